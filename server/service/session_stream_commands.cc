// The StreamSession reactor's request and command handling (see session_stream.h).

#include "server/service/session_stream.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace semaphored::server {

using ::semaphored::internal::SessionId;

using engine::WaiterId;

namespace {

// The observer's name for a stream command.
const char* CommandMethod(v1::SessionCommand::CommandCase command) {
  switch (command) {
    case v1::SessionCommand::kRefresh: return "StreamSession.refresh";
    case v1::SessionCommand::kSet: return "StreamSession.set";
    case v1::SessionCommand::kClear: return "StreamSession.clear";
    case v1::SessionCommand::kTest: return "StreamSession.test";
    case v1::SessionCommand::kWaitClear: return "StreamSession.wait_clear";
    case v1::SessionCommand::kCancel: return "StreamSession.cancel";
    case v1::SessionCommand::kPing: return "StreamSession.ping";
    case v1::SessionCommand::kClose: return "StreamSession.close";
    case v1::SessionCommand::COMMAND_NOT_SET: break;
  }
  return "StreamSession.unknown";
}

}  // namespace

// --- Requests and commands ---

void SessionStream::HandleMessage(absl::string_view bytes) {
  // Counted before parsing: a message of a million empty commands costs a scan, not
  // a million command objects and answers.
  const int64_t commands = CountStreamCommands(bytes);
  if (commands > kMaxCommandsPerMessage) {
    return EndStreamWithError(absl::ResourceExhaustedError(absl::StrCat(
        "this StreamSessionRequest carries ", commands, " commands; at most ",
        kMaxCommandsPerMessage,
        " are allowed per message (a protocol limit): send the others in later "
        "messages")));
  }
  absl::StatusOr<ParsedStreamRequest> parsed = ParseStreamRequest(bytes);
  if (!parsed.ok()) return EndStreamWithError(parsed.status());
  HandleRequest(*std::move(parsed));
}

void SessionStream::HandleRequest(ParsedStreamRequest parsed) {
  const Request& request = parsed.request;
  bool authenticated;
  std::string secret;
  {
    absl::MutexLock lock(&mu_);
    authenticated = authenticated_;
    secret = secret_;
  }
  if (!authenticated) {
    if (!AuthenticateFirst(parsed)) return;
  } else if (!parsed.secret_error.ok() ||
             (!request.session_secret().empty() && request.session_secret() != secret)) {
    EndStreamWithError(
        absl::InvalidArgumentError("session_secret differs from the one this stream "
                                   "started with: one stream serves one session"));
    return;
  }
  // Acknowledgements first: they are about answers already sent.
  operations_->Acknowledge(session(), request.acked_seqs());
  // The commands of one message commit together (a release and the set after it:
  // the set's answer waits for one commit, not two). A paused inbox (over its answer
  // budget) lets the batch go: the rest runs later, in a batch of its own.
  const bool together = request.commands_size() > 1;
  {
    absl::MutexLock lock(&mu_);
    inbox_ = std::move(parsed);
    inbox_next_ = 0;
  }
  const uint64_t hold = together ? operations_->HoldBatch() : 0;
  RunInbox();
  if (together) operations_->EndBatchHold(hold);
}

void SessionStream::RunInbox() {
  for (;;) {
    v1::SessionCommand command;
    std::optional<absl::Status> bad;
    {
      absl::MutexLock lock(&mu_);
      if (stream_ended_ || broken_ || finished_ || InboxEmptyLocked()) {
        ClearInboxLocked();
        return;
      }
      // Checked before each command, so that one message of commands with large
      // answers (tests of a semaphore with many holders) cannot queue more than the
      // budget and one answer; Pump runs the rest once enough has been sent.
      if (OverBudgetLocked()) {
        if (!paused_ && limits_.stream_stats != nullptr) {
          limits_.stream_stats->RecordPause();
        }
        paused_ = true;
        return;
      }
      if (paused_ && limits_.stream_stats != nullptr) {
        limits_.stream_stats->RecordResume();
      }
      paused_ = false;
      const int i = inbox_next_++;
      command = std::move(*inbox_.request.mutable_commands(i));
      if (auto it = inbox_.command_errors.find(i); it != inbox_.command_errors.end()) {
        bad = it->second;
      }
    }
    if (bad.has_value()) {
      PushInOrder(ErrorEvent(command.command_id(), *bad));
    } else {
      HandleCommand(command);
    }
  }
}

bool SessionStream::AuthenticateFirst(const ParsedStreamRequest& parsed) {
  const Request& request = parsed.request;
  if (!parsed.secret_error.ok()) {
    EndStreamWithError(parsed.secret_error);
    return false;
  }
  if (request.session_secret().empty()) {
    EndStreamWithError(
        absl::InvalidArgumentError("the first StreamSessionRequest must carry "
                                   "session_secret (from CreateSession)"));
    return false;
  }
  absl::StatusOr<SessionId> session = operations_->Authenticate(request.session_secret());
  if (!session.ok()) {
    EndStreamWithError(session.status());
    return false;
  }
  bool ended_meanwhile;
  {
    absl::MutexLock lock(&mu_);
    authenticated_ = true;
    session_id_ = *session;
    secret_ = request.session_secret();
    ended_meanwhile = stream_ended_;
  }
  if (ended_meanwhile) {
    // The call was cancelled while we authenticated: the session ends with it.
    operations_->StreamEnded(*session);
    return false;
  }
  absl::Status observed = operations_->AttachStream(
      *session, std::make_shared<SessionEventForwarder>(weak_from_this()));
  if (!observed.ok()) {
    EndStreamWithError(observed);
    return false;
  }
  return true;
}

absl::Status SessionStream::CheckCommandSecret(absl::string_view secret) const {
  absl::MutexLock lock(&mu_);
  if (secret.empty() || secret == secret_) return absl::OkStatus();
  return absl::InvalidArgumentError(
      "the command's session_secret differs from the stream's: leave it empty on a "
      "stream");
}

void SessionStream::HandleCommand(const v1::SessionCommand& command) {
  observer_->OnRequest(CommandMethod(command.command_case()));
  const uint64_t id = command.command_id();
  if (id == 0) {
    return PushInOrder(ErrorEvent(
        0, absl::InvalidArgumentError("command_id must be nonzero: 0 marks server pushes")));
  }
  bool used = false;
  {
    absl::MutexLock lock(&mu_);
    used = pending_.contains(id);
  }
  if (used) {
    return PushInOrder(ErrorEvent(
        id, absl::InvalidArgumentError(absl::StrCat(
                "command_id ", id,
                " is already used by a pending command: use a new id for each command"))));
  }
  switch (command.command_case()) {
    case v1::SessionCommand::kRefresh: {
      absl::Status s = CheckCommandSecret(command.refresh().session_secret());
      if (!s.ok()) return PushInOrder(ErrorEvent(id, s));
      return operations_->Refresh(command.refresh(), CommandCall(),
                                  AnswerTo(id, &v1::SessionEvent::mutable_refresh));
    }
    case v1::SessionCommand::kSet:
      return HandleSet(id, command.seq(), command.set());
    case v1::SessionCommand::kClear: {
      absl::Status s = CheckCommandSecret(command.clear().session_secret());
      if (!s.ok()) return PushInOrder(ErrorEvent(id, s));
      return operations_->Clear(command.clear(), CommandCall(command.seq()),
                                AnswerTo(id, &v1::SessionEvent::mutable_clear));
    }
    case v1::SessionCommand::kTest:
      return operations_->Test(command.test(),
                               AnswerTo(id, &v1::SessionEvent::mutable_test));
    case v1::SessionCommand::kWaitClear:
      return HandleWaitClear(id, command.seq(), command.wait_clear());
    case v1::SessionCommand::kCancel:
      return HandleCancel(id, command.cancel().target_command_id());
    case v1::SessionCommand::kPing:
      return operations_->Ping(command.ping(),
                               AnswerTo(id, &v1::SessionEvent::mutable_ping));
    case v1::SessionCommand::kClose: {
      absl::Status s = CheckCommandSecret(command.close().session_secret());
      if (!s.ok()) return PushInOrder(ErrorEvent(id, s));
      return HandleClose(id, command.close());
    }
    case v1::SessionCommand::COMMAND_NOT_SET:
      break;
  }
  PushInOrder(ErrorEvent(id, absl::InvalidArgumentError(
                                 absl::StrCat("command ", id,
                                              " names no operation (or one this server "
                                              "does not know): set exactly one"))));
}

uint64_t SessionStream::AddPending(uint64_t id) {
  size_t pending = 0;
  {
    absl::MutexLock lock(&mu_);
    pending = pending_.size();
    if (pending < kMaxPendingCommands) {
      const uint64_t ticket = ++last_ticket_;
      pending_[id] = PendingCommand{ticket, 0};
      return ticket;
    }
  }
  PushInOrder(ErrorEvent(id, absl::ResourceExhaustedError(absl::StrCat(
                                 "this stream already has ", pending,
                                 " waiting commands: wait for some to finish"))));
  return 0;
}

void SessionStream::PushInOrder(v1::SessionEvent event) {
  operations_->AfterAnswers([weak = weak_from_this(), event = std::move(event)]() mutable {
    std::shared_ptr<SessionStream> stream = weak.lock();
    if (stream == nullptr) return;
    stream->Push(std::move(event));
    stream->Pump();
  });
}

void SessionStream::SetPendingWaiter(uint64_t id, uint64_t ticket, WaiterId waiter) {
  bool cancel = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(id);
    if (it == pending_.end() || it->second.ticket != ticket) return;  // answered already
    it->second.waiter = waiter;
    cancel = stream_ended_;
  }
  if (cancel) operations_->Cancel(waiter, nullptr);
}

void SessionStream::Complete(uint64_t id, uint64_t ticket, v1::SessionEvent event) {
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(id);
    if (it == pending_.end() || it->second.ticket != ticket) return;
    pending_.erase(it);
    PushLocked(std::move(event));
  }
  Pump();
}

void SessionStream::HandleSet(uint64_t id, uint64_t seq,
                              const v1::SetSemaphoreRequest& request) {
  if (absl::Status s = CheckCommandSecret(request.session_secret()); !s.ok()) {
    return PushInOrder(ErrorEvent(id, s));
  }
  // Pending before the operation runs: its answer may come at any time from now on.
  const uint64_t ticket = AddPending(id);
  if (ticket == 0) return;
  const WaiterId waiter = operations_->Set(
      request, CommandCall(seq), CompletePending(id, ticket, &v1::SessionEvent::mutable_set));
  if (waiter != 0) SetPendingWaiter(id, ticket, waiter);
}

void SessionStream::HandleWaitClear(uint64_t id, uint64_t seq,
                                    const v1::WaitSemaphoreClearRequest& request) {
  if (absl::Status s = CheckCommandSecret(request.session_secret()); !s.ok()) {
    return PushInOrder(ErrorEvent(id, s));
  }
  const uint64_t ticket = AddPending(id);
  if (ticket == 0) return;
  const WaiterId waiter =
      operations_->WaitClear(request, CommandCall(seq),
                             CompletePending(id, ticket, &v1::SessionEvent::mutable_wait_clear));
  if (waiter != 0) SetPendingWaiter(id, ticket, waiter);
}

void SessionStream::HandleCancel(uint64_t id, uint64_t target) {
  WaiterId waiter = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(target);
    if (it != pending_.end()) {
      // Cancelled once: its answer may still wait for a commit, but a second cancel
      // finds it no longer pending.
      waiter = it->second.waiter;
      it->second.waiter = 0;
    }
  }
  if (waiter == 0) {
    return PushInOrder(ErrorEvent(
        id, absl::NotFoundError(absl::StrCat("command ", target,
                                             " is not pending on this stream (it may "
                                             "have been answered already)"))));
  }
  // The target's completion answers it CANCELLED before this one acknowledges (with an
  // empty `ping`: the proto has no dedicated answer).
  operations_->Cancel(waiter, [weak = weak_from_this(), id](absl::Status status) {
    std::shared_ptr<SessionStream> stream = weak.lock();
    if (stream == nullptr) return;
    v1::SessionEvent event;
    if (status.ok()) {
      event.set_command_id(id);
      event.mutable_ping();
    } else {
      event = stream->ErrorEvent(id, status);
    }
    stream->Push(std::move(event));
    stream->Pump();
  });
}

void SessionStream::HandleClose(uint64_t id, const v1::CloseSessionRequest& request) {
  {
    absl::MutexLock lock(&mu_);
    holding_ended_ = true;
  }
  operations_->Close(
      request, CommandCall(),
      [weak = weak_from_this(), id](absl::StatusOr<v1::CloseSessionResponse> answer) {
        std::shared_ptr<SessionStream> stream = weak.lock();
        if (stream == nullptr) return;
        v1::SessionEvent event =
            stream->AnswerEvent(id, std::move(answer), &v1::SessionEvent::mutable_close);
        {
          // The answer goes out before the session_ended push it held back.
          absl::MutexLock lock(&stream->mu_);
          stream->holding_ended_ = false;
          stream->PushLocked(std::move(event));
          if (stream->held_ended_.has_value()) {
            stream->PushLocked(*std::move(stream->held_ended_));
            stream->held_ended_.reset();
          }
        }
        stream->Pump();
      });
}

}  // namespace semaphored::server
