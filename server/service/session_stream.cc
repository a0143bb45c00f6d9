// The StreamSession reactor: gRPC reactions, writing, the stream's end and session
// events (see session_stream.h).

#include "server/service/session_stream.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/wire_status.h"
#include "engine/answer_batch.h"

namespace semaphored::server {

using ::semaphored::internal::FromCallDeadline;
using ::semaphored::internal::SessionId;
using ::semaphored::internal::ToCommandError;

using engine::WaiterId;

void SessionStream::Start() {
  const absl::Duration timeout = limits_.stream_first_message_timeout;
  const bool arm = timeout > absl::ZeroDuration() && timeout != absl::InfiniteDuration();
  {
    absl::MutexLock lock(&mu_);
    self_ = shared_from_this();
    alarm_armed_ = arm;
  }
  if (arm) {
    // A stream that never speaks would otherwise hold its memory (and its slot on the
    // connection) forever. The alarm runs the callback on a gRPC executor thread.
    first_message_alarm_.Set(absl::ToChronoTime(absl::Now() + timeout),
                             [weak = weak_from_this()](bool fired) {
                               if (!fired) return;  // cancelled
                               if (auto stream = weak.lock()) {
                                 stream->FirstMessageTimedOut();
                               }
                             });
  }
  Pump();
}

void SessionStream::FirstMessageTimedOut() {
  {
    absl::MutexLock lock(&mu_);
    if (first_message_ || stream_ended_ || finished_) return;
  }
  EndStreamWithError(absl::DeadlineExceededError(absl::StrCat(
      "no StreamSessionRequest arrived within ",
      absl::FormatDuration(limits_.stream_first_message_timeout),
      " of opening the stream (--stream_first_message_timeout): send the first "
      "message, with session_secret, as soon as the stream is open")));
}

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
  bool cancel_alarm = false;
  {
    absl::MutexLock lock(&mu_);
    read_in_flight_ = false;
    ++busy_;
    cancel_alarm = !first_message_ && alarm_armed_;
    first_message_ = true;
  }
  if (cancel_alarm) first_message_alarm_.Cancel();
  const std::string bytes = BufferBytes(request_);
  request_.Clear();
  HandleMessage(bytes);
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
    writing_buf_.Clear();
    writing_bytes_ = 0;
    if (!ok) broken_ = true;
  }
  if (!ok) {
    EndStream(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                           "writing to the stream failed: the client is gone"));
  }
  Pump();
}

void SessionStream::Pump() {
  // Answers a commit gives together go out in one write, once all are queued.
  if (engine::AnswerBatch::Open()) {
    engine::AnswerBatch::Defer(this, [self = shared_from_this()] { self->Pump(); });
    return;
  }
  // Each round starts one operation or returns. A started read or write stays in
  // flight until its reaction, so the loop ends after a few rounds; it re-checks after
  // each start because a Finish deferred by issuing_ (or an operation that completed
  // inline) may now be due.
  for (;;) {
    enum class Op { kRun, kRead, kWrite, kFinish } op;
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      if (broken_) {
        out_.Clear();
        queued_bytes_ = 0;
      }
      // The client is gone or broke the protocol: nobody waits for these answers.
      if (broken_ || stream_ended_) ClearInboxLocked();
      const bool idle = busy_ == 0;
      if (idle && !InboxEmptyLocked() && !OverBudgetLocked()) {
        // Enough answers were sent: the commands the budget held back run now.
        ++busy_;
        op = Op::kRun;
      } else if (idle && !read_in_flight_ && !ending_ && InboxEmptyLocked() &&
                 !OverBudgetLocked() && out_.events_size() < kMaxBacklogEvents) {
        read_in_flight_ = true;
        ++issuing_;
        op = Op::kRead;
      } else if (idle && !write_in_flight_ && out_.events_size() > 0) {
        TakeBatchLocked();
        write_in_flight_ = true;
        ++issuing_;
        op = Op::kWrite;
      } else if (idle && ending_ && !holding_ended_ && !write_in_flight_ && issuing_ == 0 &&
                 out_.events_size() == 0 && InboxEmptyLocked()) {
        finished_ = true;
        op = Op::kFinish;
        status = finish_status_;
      } else {
        return;
      }
    }
    switch (op) {
      case Op::kRun: {
        RunInbox();
        absl::MutexLock lock(&mu_);
        --busy_;
        continue;
      }
      case Op::kRead:
        StartRead(&request_);
        break;
      case Op::kWrite:
        // writing_buf_ is not touched until OnWriteDone: write_in_flight_ guards it.
        StartWrite(&writing_buf_);
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
  if (out_.events_size() <= kMaxEventsPerWrite && queued_bytes_ <= kMaxBytesPerWrite) {
    writing_.Swap(&out_);
    writing_bytes_ = queued_bytes_;
  } else {
    auto* from = out_.mutable_events();
    int64_t moved = 0;
    int taken = 0;
    while (taken < from->size() && taken < kMaxEventsPerWrite) {
      // The same size PushLocked counted (the event has not changed since).
      const auto size = static_cast<int64_t>(from->Get(taken).ByteSizeLong());
      if (taken > 0 && moved + size > kMaxBytesPerWrite) break;
      writing_.add_events()->Swap(from->Mutable(taken));
      moved += size;
      ++taken;
    }
    from->DeleteSubrange(0, taken);
    writing_bytes_ = moved;
  }
  queued_bytes_ -= writing_bytes_;
  SerializeToBuffer(writing_, &writing_buf_);
}

void SessionStream::EndStream(grpc::Status status) {
  std::vector<WaiterId> to_cancel;
  std::optional<SessionId> to_close;
  {
    absl::MutexLock lock(&mu_);
    if (stream_ended_) return;
    stream_ended_ = true;
    ClearInboxLocked();  // commands not run yet: nobody waits for their answers
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
  // Without the lock: the engine answers the cancelled waits and tells the session's
  // forwarder from inside these calls.
  for (WaiterId waiter : to_cancel) operations_->Cancel(waiter, nullptr);
  if (to_close.has_value()) operations_->StreamEnded(*to_close);
  // Not finished before the answers these caused (the cancelled waits, the session's
  // end) have been given: with a store they wait for their commit.
  operations_->AfterAnswers([weak = weak_from_this()] {
    std::shared_ptr<SessionStream> stream = weak.lock();
    if (stream == nullptr) return;
    {
      absl::MutexLock lock(&stream->mu_);
      --stream->busy_;
    }
    stream->Pump();
  });
}

// --- Session events ---

void SessionStream::SessionEnded(const absl::Status& reason) {
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    // Answer what still waits before the push; the engine's own (later) answers to
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

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* NewSessionStream(
    Operations* operations, CallObserver* observer, const ServiceLimits& limits,
    grpc::CallbackServerContext* context) {
  auto stream = std::make_shared<SessionStream>(
      operations, observer != nullptr ? observer : CallObserver::Null(), limits,
      FromCallDeadline(context->deadline()));
  stream->Start();
  return stream.get();
}

}  // namespace semaphored::server
