#include "server/service/session_stream.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/service/convert.h"
#include "server/service/semaphore_service.h"

namespace semaphored::internal {
namespace {

using Request = v1::StreamSessionRequest;
using Response = v1::StreamSessionResponse;

// At most this many events go into one StreamSessionResponse (keeps each message far
// below the client's default 4 MiB receive limit).
constexpr int kMaxEventsPerWrite = 512;
// Reading pauses while this many events wait to be written.
constexpr int kMaxBacklogEvents = 4096;
// Waiting commands one stream may have at a time.
constexpr size_t kMaxPendingCommands = 100'000;

v1::SessionEvent ErrorEvent(uint64_t command_id, const absl::Status& status) {
  v1::SessionEvent event;
  event.set_command_id(command_id);
  *event.mutable_error() = ToCommandError(status);
  return event;
}

class SessionStream final : public grpc::ServerBidiReactor<Request, Response>,
                            public std::enable_shared_from_this<SessionStream> {
 public:
  SessionStream(Core* core, Clock* clock, absl::Time call_deadline)
      : core_(core), clock_(clock), call_deadline_(call_deadline) {}

  // Takes gRPC's reference and starts reading. Call once, right after construction.
  void Start() ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      self_ = shared_from_this();
    }
    Pump();
  }

  void OnReadDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnWriteDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnCancel() override ABSL_LOCKS_EXCLUDED(mu_) {
    EndStream(grpc::Status(grpc::StatusCode::CANCELLED, "the stream was cancelled"));
  }
  void OnDone() override ABSL_LOCKS_EXCLUDED(mu_) {
    std::shared_ptr<SessionStream> me;
    absl::MutexLock lock(&mu_);
    me = std::move(self_);  // may destroy *this when `me` goes out of scope
  }

  // From the session observer (any thread).
  void SessionEnded(const absl::Status& reason) ABSL_LOCKS_EXCLUDED(mu_);
  void Revoked(const std::string& name, uint64_t token, const std::string& reason)
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct PendingCommand {
    uint64_t seq = 0;     // tells a reused command_id from the original
    WaiterId waiter = 0;  // 0 until Set/WaitClear returns
  };

  void HandleRequest(const Request& request) ABSL_LOCKS_EXCLUDED(mu_);
  bool AuthenticateFirst(const Request& request) ABSL_LOCKS_EXCLUDED(mu_);
  void HandleCommand(const v1::SessionCommand& command) ABSL_LOCKS_EXCLUDED(mu_);
  void HandleSet(uint64_t id, const v1::SetSemaphoreRequest& request)
      ABSL_LOCKS_EXCLUDED(mu_);
  void HandleWaitClear(uint64_t id, const v1::WaitSemaphoreClearRequest& request)
      ABSL_LOCKS_EXCLUDED(mu_);
  void HandleCancel(uint64_t id, uint64_t target) ABSL_LOCKS_EXCLUDED(mu_);
  void HandleClose(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status CheckCommandSecret(absl::string_view secret) const
      ABSL_LOCKS_EXCLUDED(mu_);
  SessionId session() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return session_id_;
  }

  // Registers a waiting command; returns its sequence number.
  uint64_t AddPending(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);
  // Records the core's waiter id of a pending command (cancelling it if the stream
  // has ended meanwhile).
  void SetPendingWaiter(uint64_t id, uint64_t seq, WaiterId waiter)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The core's answer to a pending command; dropped when no longer pending.
  void Complete(uint64_t id, uint64_t seq, v1::SessionEvent event)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Queues an event (answer or push) for writing.
  void Push(v1::SessionEvent event) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    PushLocked(std::move(event));
  }
  void PushLocked(v1::SessionEvent event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || broken_) return;
    *out_.add_events() = std::move(event);
  }
  // The client side of the stream has ended (or broke the protocol): cancels the
  // pending waits, closes the session and finishes with `status` once the remaining
  // events are written. Idempotent.
  void EndStream(grpc::Status status) ABSL_LOCKS_EXCLUDED(mu_);
  // Starts whatever can start now: the next read, the next write, or Finish.
  void Pump() ABSL_LOCKS_EXCLUDED(mu_);
  void TakeBatchLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Core* const core_;
  Clock* const clock_;
  const absl::Time call_deadline_;
  // The message being read; touched only by the read that fills it and by
  // OnReadDone, which gRPC never runs concurrently with itself.
  Request request_;

  mutable absl::Mutex mu_;
  // State below is protected by mu_.
  std::shared_ptr<SessionStream> self_ ABSL_GUARDED_BY(mu_);  // gRPC's reference
  bool authenticated_ ABSL_GUARDED_BY(mu_) = false;
  SessionId session_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::string secret_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, PendingCommand> pending_ ABSL_GUARDED_BY(mu_);
  uint64_t last_seq_ ABSL_GUARDED_BY(mu_) = 0;
  // While a close command runs, the session_ended push waits here so that it
  // follows the close answer.
  bool holding_ended_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<v1::SessionEvent> held_ended_ ABSL_GUARDED_BY(mu_);
  // Events waiting to be written, and the message being written.
  Response out_ ABSL_GUARDED_BY(mu_);
  Response writing_ ABSL_GUARDED_BY(mu_);
  bool read_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  // Threads between deciding on a read or write and starting it: Finish waits.
  int issuing_ ABSL_GUARDED_BY(mu_) = 0;
  // Threads handling a request or ending the stream: writes and Finish wait, so
  // that the events they produce go out together and before the end.
  int busy_ ABSL_GUARDED_BY(mu_) = 0;
  bool stream_ended_ ABSL_GUARDED_BY(mu_) = false;  // EndStream ran
  bool ending_ ABSL_GUARDED_BY(mu_) = false;  // finish once everything is written
  grpc::Status finish_status_ ABSL_GUARDED_BY(mu_);
  bool broken_ ABSL_GUARDED_BY(mu_) = false;  // a write failed: the client is gone
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

// Forwards the core's session events to the stream while it exists.
class StreamObserver final : public SessionObserver {
 public:
  explicit StreamObserver(std::weak_ptr<SessionStream> stream)
      : stream_(std::move(stream)) {}
  void OnSessionEnded(const absl::Status& reason) override {
    if (auto stream = stream_.lock()) stream->SessionEnded(reason);
  }
  void OnRevoked(const std::string& name, uint64_t fencing_token,
                 const std::string& reason) override {
    if (auto stream = stream_.lock()) stream->Revoked(name, fencing_token, reason);
  }

 private:
  const std::weak_ptr<SessionStream> stream_;
};

// --- gRPC reactions ---

void SessionStream::OnReadDone(bool ok) {
  if (!ok) {
    // Half-close, cancellation or a broken connection: the session ends with the
    // stream.
    {
      absl::MutexLock lock(&mu_);
      read_in_flight_ = false;
    }
    EndStream(grpc::Status::OK);
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    read_in_flight_ = false;
    ++busy_;
  }
  HandleRequest(request_);
  {
    absl::MutexLock lock(&mu_);
    --busy_;
  }
  Pump();
}

void SessionStream::OnWriteDone(bool ok) {
  {
    absl::MutexLock lock(&mu_);
    write_in_flight_ = false;
    writing_.Clear();
    if (!ok) broken_ = true;
  }
  if (!ok) {
    EndStream(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                           "writing to the stream failed: the client is gone"));
  }
  Pump();
}

void SessionStream::Pump() {
  // Each round starts at most one operation; a read and a write can both start, and
  // Finish ends the loop, so three rounds always suffice.
  for (int round = 0; round < 3; ++round) {
    enum class Op { kRead, kWrite, kFinish } op;
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      if (broken_) out_.Clear();
      const bool idle = busy_ == 0;
      if (idle && !read_in_flight_ && !ending_ && out_.events_size() < kMaxBacklogEvents) {
        read_in_flight_ = true;
        ++issuing_;
        op = Op::kRead;
      } else if (idle && !write_in_flight_ && out_.events_size() > 0) {
        TakeBatchLocked();
        write_in_flight_ = true;
        ++issuing_;
        op = Op::kWrite;
      } else if (idle && ending_ && !write_in_flight_ && issuing_ == 0 &&
                 out_.events_size() == 0) {
        finished_ = true;
        op = Op::kFinish;
        status = finish_status_;
      } else {
        return;
      }
    }
    switch (op) {
      case Op::kRead:
        StartRead(&request_);
        break;
      case Op::kWrite:
        // writing_ is not touched until OnWriteDone: write_in_flight_ guards it.
        StartWrite(&writing_);
        break;
      case Op::kFinish:
        Finish(std::move(status));
        return;  // OnDone may follow at once: touch nothing more
    }
    absl::MutexLock lock(&mu_);
    --issuing_;
  }
}

void SessionStream::TakeBatchLocked() {
  writing_.Clear();
  if (out_.events_size() <= kMaxEventsPerWrite) {
    writing_.Swap(&out_);
    return;
  }
  auto* from = out_.mutable_events();
  for (int i = 0; i < kMaxEventsPerWrite; ++i) {
    writing_.add_events()->Swap(from->Mutable(i));
  }
  from->DeleteSubrange(0, kMaxEventsPerWrite);
}

void SessionStream::EndStream(grpc::Status status) {
  std::vector<WaiterId> to_cancel;
  std::optional<SessionId> to_close;
  {
    absl::MutexLock lock(&mu_);
    if (stream_ended_) return;
    stream_ended_ = true;
    if (!ending_) {
      ending_ = true;
      finish_status_ = std::move(status);
    }
    ++busy_;
    for (const auto& [id, command] : pending_) {
      if (command.waiter != 0) to_cancel.push_back(command.waiter);
    }
    if (authenticated_) to_close = session_id_;
  }
  // Without the lock: the core answers the cancelled waits and tells the observer
  // from inside these calls.
  for (WaiterId waiter : to_cancel) core_->Cancel(waiter);
  if (to_close.has_value()) core_->CloseSession(*to_close).IgnoreError();
  {
    absl::MutexLock lock(&mu_);
    --busy_;
  }
  Pump();
}

// --- Session events ---

void SessionStream::SessionEnded(const absl::Status& reason) {
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    // Answer what still waits before the push; the core's own (later) answers to
    // these commands then find nothing pending and are dropped.
    for (const auto& [id, command] : pending_) PushLocked(ErrorEvent(id, reason));
    pending_.clear();
    v1::SessionEvent event;
    v1::SessionEndedEvent* ended = event.mutable_session_ended();
    ended->set_reason(std::string(reason.message()));
    ended->set_code(static_cast<int32_t>(ToCommandError(reason).code()));
    if (holding_ended_) {
      held_ended_ = std::move(event);
    } else {
      PushLocked(std::move(event));
    }
    if (!ending_) {
      ending_ = true;
      finish_status_ = grpc::Status::OK;
    }
  }
  Pump();
}

void SessionStream::Revoked(const std::string& name, uint64_t token,
                            const std::string& reason) {
  v1::SessionEvent event;
  v1::SemaphoreRevokedEvent* revoked = event.mutable_revoked();
  revoked->set_name(name);
  revoked->set_reason(reason);
  revoked->set_fencing_token(token);
  Push(std::move(event));
  Pump();
}

// --- Requests and commands ---

void SessionStream::HandleRequest(const Request& request) {
  bool authenticated;
  std::string secret;
  {
    absl::MutexLock lock(&mu_);
    authenticated = authenticated_;
    secret = secret_;
  }
  if (!authenticated) {
    if (!AuthenticateFirst(request)) return;
  } else if (!request.session_secret().empty() && request.session_secret() != secret) {
    EndStream(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                           "session_secret differs from the one this stream started "
                           "with: one stream serves one session"));
    return;
  }
  for (const v1::SessionCommand& command : request.commands()) HandleCommand(command);
}

bool SessionStream::AuthenticateFirst(const Request& request) {
  if (request.session_secret().empty()) {
    EndStream(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                           "the first StreamSessionRequest must carry session_secret "
                           "(from CreateSession)"));
    return false;
  }
  absl::StatusOr<SessionId> session = AuthenticateSecret(*core_, request.session_secret());
  if (!session.ok()) {
    EndStream(ToGrpcStatus(session.status()));
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
    core_->CloseSession(*session).IgnoreError();
    return false;
  }
  absl::Status observed =
      core_->SetObserver(*session, std::make_shared<StreamObserver>(weak_from_this()));
  if (!observed.ok()) {
    EndStream(ToGrpcStatus(observed));
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
  const uint64_t id = command.command_id();
  if (id == 0) {
    Push(ErrorEvent(0, absl::InvalidArgumentError(
                           "command_id must be nonzero: 0 marks server pushes")));
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    if (pending_.contains(id)) {
      PushLocked(ErrorEvent(id, absl::InvalidArgumentError(absl::StrCat(
                                    "command_id ", id,
                                    " is already used by a pending command: use a "
                                    "new id for each command"))));
      return;
    }
  }
  v1::SessionEvent event;
  event.set_command_id(id);
  switch (command.command_case()) {
    case v1::SessionCommand::kRefresh: {
      absl::Status s = CheckCommandSecret(command.refresh().session_secret());
      absl::StatusOr<absl::Time> expire = s.ok() ? core_->Refresh(session()) : s;
      if (!expire.ok()) return Push(ErrorEvent(id, expire.status()));
      *event.mutable_refresh() = ToRefreshSessionResponse(*expire);
      return Push(std::move(event));
    }
    case v1::SessionCommand::kSet:
      return HandleSet(id, command.set());
    case v1::SessionCommand::kClear: {
      absl::Status s = CheckCommandSecret(command.clear().session_secret());
      absl::StatusOr<std::string> name = ToClearName(command.clear());
      if (s.ok()) s = name.status();
      absl::StatusOr<int32_t> released = s.ok() ? core_->Clear(session(), *name) : s;
      if (!released.ok()) return Push(ErrorEvent(id, released.status()));
      event.mutable_clear()->set_released_permits(*released);
      return Push(std::move(event));
    }
    case v1::SessionCommand::kTest: {
      absl::StatusOr<std::string> name = ToTestName(command.test());
      if (!name.ok()) return Push(ErrorEvent(id, name.status()));
      *event.mutable_test()->mutable_state() = ToSemaphoreState(core_->Test(*name));
      return Push(std::move(event));
    }
    case v1::SessionCommand::kWaitClear:
      return HandleWaitClear(id, command.wait_clear());
    case v1::SessionCommand::kCancel:
      return HandleCancel(id, command.cancel().target_command_id());
    case v1::SessionCommand::kPing:
      event.mutable_ping();
      return Push(std::move(event));
    case v1::SessionCommand::kClose: {
      absl::Status s = CheckCommandSecret(command.close().session_secret());
      if (!s.ok()) return Push(ErrorEvent(id, s));
      return HandleClose(id);
    }
    case v1::SessionCommand::COMMAND_NOT_SET:
      break;
  }
  Push(ErrorEvent(id, absl::InvalidArgumentError(absl::StrCat(
                          "command ", id, " names no operation (or one this server "
                          "does not know): set exactly one"))));
}

uint64_t SessionStream::AddPending(uint64_t id) {
  absl::MutexLock lock(&mu_);
  if (pending_.size() >= kMaxPendingCommands) {
    PushLocked(ErrorEvent(id, absl::ResourceExhaustedError(absl::StrCat(
                                  "this stream already has ", pending_.size(),
                                  " waiting commands: wait for some to finish"))));
    return 0;
  }
  const uint64_t seq = ++last_seq_;
  pending_[id] = PendingCommand{seq, 0};
  return seq;
}

void SessionStream::SetPendingWaiter(uint64_t id, uint64_t seq, WaiterId waiter) {
  bool cancel = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(id);
    if (it == pending_.end() || it->second.seq != seq) return;  // answered already
    it->second.waiter = waiter;
    cancel = stream_ended_;
  }
  if (cancel) core_->Cancel(waiter);
}

void SessionStream::Complete(uint64_t id, uint64_t seq, v1::SessionEvent event) {
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(id);
    if (it == pending_.end() || it->second.seq != seq) return;
    pending_.erase(it);
    PushLocked(std::move(event));
  }
  Pump();
}

void SessionStream::HandleSet(uint64_t id, const v1::SetSemaphoreRequest& request) {
  absl::Status s = CheckCommandSecret(request.session_secret());
  absl::StatusOr<SetArgs> args = ToSetArgs(request, clock_->Now(), call_deadline_);
  if (s.ok()) s = args.status();
  if (!s.ok()) return Push(ErrorEvent(id, s));
  const uint64_t seq = AddPending(id);
  if (seq == 0) return;
  const WaiterId waiter = core_->Set(
      session(), *std::move(args),
      [weak = weak_from_this(), id, seq](absl::StatusOr<SetOutcome> outcome) {
        std::shared_ptr<SessionStream> stream = weak.lock();
        if (stream == nullptr) return;
        if (!outcome.ok()) return stream->Complete(id, seq, ErrorEvent(id, outcome.status()));
        v1::SessionEvent event;
        event.set_command_id(id);
        *event.mutable_set() = ToSetSemaphoreResponse(*outcome);
        stream->Complete(id, seq, std::move(event));
      });
  if (waiter != 0) SetPendingWaiter(id, seq, waiter);
}

void SessionStream::HandleWaitClear(uint64_t id,
                                    const v1::WaitSemaphoreClearRequest& request) {
  absl::Status s = CheckCommandSecret(request.session_secret());
  absl::StatusOr<WaitClearArgs> args =
      ToWaitClearArgs(request, clock_->Now(), call_deadline_);
  if (s.ok()) s = args.status();
  if (!s.ok()) return Push(ErrorEvent(id, s));
  const uint64_t seq = AddPending(id);
  if (seq == 0) return;
  const WaiterId waiter = core_->WaitClear(
      session(), std::move(args->name), args->deadline,
      [weak = weak_from_this(), id, seq](absl::StatusOr<WaitClearOutcome> outcome) {
        std::shared_ptr<SessionStream> stream = weak.lock();
        if (stream == nullptr) return;
        if (!outcome.ok()) return stream->Complete(id, seq, ErrorEvent(id, outcome.status()));
        v1::SessionEvent event;
        event.set_command_id(id);
        *event.mutable_wait_clear() = ToWaitSemaphoreClearResponse(*outcome);
        stream->Complete(id, seq, std::move(event));
      });
  if (waiter != 0) SetPendingWaiter(id, seq, waiter);
}

void SessionStream::HandleCancel(uint64_t id, uint64_t target) {
  WaiterId waiter = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(target);
    if (it != pending_.end()) waiter = it->second.waiter;
  }
  if (waiter == 0) {
    return Push(ErrorEvent(
        id, absl::NotFoundError(absl::StrCat("command ", target,
                                             " is not pending on this stream (it may "
                                             "have been answered already)"))));
  }
  // The target's callback answers it CANCELLED, before the acknowledgement below.
  core_->Cancel(waiter);
  v1::SessionEvent event;
  event.set_command_id(id);
  event.mutable_ping();
  Push(std::move(event));
}

void SessionStream::HandleClose(uint64_t id) {
  {
    absl::MutexLock lock(&mu_);
    holding_ended_ = true;
  }
  absl::StatusOr<int32_t> released = core_->CloseSession(session());
  v1::SessionEvent event =
      released.ok() ? v1::SessionEvent() : ErrorEvent(id, released.status());
  if (released.ok()) {
    event.set_command_id(id);
    event.mutable_close()->set_released_count(*released);
  }
  absl::MutexLock lock(&mu_);
  holding_ended_ = false;
  PushLocked(std::move(event));
  if (held_ended_.has_value()) {
    PushLocked(*std::move(held_ended_));
    held_ended_.reset();
  }
}

}  // namespace

grpc::ServerBidiReactor<Request, Response>* NewSessionStream(
    Core* core, Clock* clock, grpc::CallbackServerContext* context) {
  auto stream =
      std::make_shared<SessionStream>(core, clock, FromCallDeadline(context->deadline()));
  stream->Start();
  return stream.get();
}

}  // namespace semaphored::internal
