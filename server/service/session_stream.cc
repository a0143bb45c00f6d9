#include "server/service/session_stream.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "server/service/session_stream_reactor.h"

namespace semaphored::internal {

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
  absl::StatusOr<ParsedStreamRequest> parsed = ParseStreamRequest(BufferBytes(request_));
  request_.Clear();
  if (parsed.ok()) {
    HandleRequest(*parsed);
  } else {
    EndStreamWithError(parsed.status());
  }
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
    if (!ok) broken_ = true;
  }
  if (!ok) {
    EndStream(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                           "writing to the stream failed: the client is gone"));
  }
  Pump();
}

void SessionStream::Pump() {
  // Each round starts one operation or returns. A started read or write stays in
  // flight until its reaction, so the loop ends after a few rounds; it re-checks after
  // each start because a Finish deferred by issuing_ (or an operation that completed
  // inline) may now be due.
  for (;;) {
    enum class Op { kRead, kWrite, kFinish } op;
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      if (broken_) out_.Clear();
      const bool idle = busy_ == 0;
      if (idle && !read_in_flight_ && !ending_ &&
          out_.events_size() < kMaxBacklogEvents) {
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
  if (out_.events_size() <= kMaxEventsPerWrite) {
    writing_.Swap(&out_);
  } else {
    auto* from = out_.mutable_events();
    for (int i = 0; i < kMaxEventsPerWrite; ++i) {
      writing_.add_events()->Swap(from->Mutable(i));
    }
    from->DeleteSubrange(0, kMaxEventsPerWrite);
  }
  SerializeToBuffer(writing_, &writing_buf_);
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
  if (to_close.has_value()) {
    core_->CloseSession(*to_close, SessionEndReason::kStreamEnded).IgnoreError();
  }
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

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* NewSessionStream(
    Core* core, Clock* clock, ServiceObserver* observer,
    grpc::CallbackServerContext* context) {
  auto stream = std::make_shared<SessionStream>(
      core, clock, observer != nullptr ? observer : ServiceObserver::Null(),
      FromCallDeadline(context->deadline()));
  stream->Start();
  return stream.get();
}

}  // namespace semaphored::internal
