// GrpcSessionStream: one StreamSession call over gRPC's callback API.

#include "grpc_session_stream.h"

#include <algorithm>
#include <utility>

#include "common/wire_status.h"

namespace semaphored::internal {

namespace v1 = ::semaphored::v1;

GrpcSessionStream::GrpcSessionStream(std::string secret,
                                     std::weak_ptr<ClientStreamObserver> observer)
    : observer_(std::move(observer)), secret_(std::move(secret)) {}

std::shared_ptr<GrpcSessionStream> GrpcSessionStream::Start(
    v1::SemaphoreService::Stub* stub, std::string secret,
    std::weak_ptr<ClientStreamObserver> observer) {
  std::shared_ptr<GrpcSessionStream> stream(
      new GrpcSessionStream(std::move(secret), std::move(observer)));
  stream->self_ = stream;
  stub->async()->StreamSession(&stream->context_, stream.get());
  stream->AddHold();
  stream->StartRead(&stream->response_);
  stream->StartCall();
  return stream;
}

void GrpcSessionStream::FillRequestLocked() {
  request_.Clear();
  if (!secret_.empty()) {
    request_.set_session_secret(std::move(secret_));
    secret_.clear();
  }
  size_t bytes = 0;
  while (!queue_.empty() && request_.commands_size() < kMaxBatchCommands &&
         (request_.commands_size() == 0 || bytes < kMaxBatchBytes)) {
    bytes += queue_.front().ByteSizeLong();
    *request_.add_commands() = std::move(queue_.front());
    queue_.pop_front();
  }
  const size_t acks = std::min(acks_.size(), kMaxBatchAcks);
  request_.mutable_acked_seqs()->Add(acks_.begin(), acks_.begin() + acks);
  acks_.erase(acks_.begin(), acks_.begin() + acks);
}

bool GrpcSessionStream::TakeHoldLocked() {
  if (hold_removed_ || !reads_done_ || writing_ || writes_done_pending_) return false;
  hold_removed_ = true;
  return true;
}

bool GrpcSessionStream::BeginWriteLocked() {
  if (writing_ || writes_closed_ || queue_.empty()) return false;
  writing_ = true;
  FillRequestLocked();
  return true;
}

void GrpcSessionStream::Queue(v1::SessionCommand command, bool flush) {
  {
    absl::MutexLock lock(&mu_);
    if (writes_closed_ || finish_requested_) return;
    queue_.push_back(std::move(command));
    if (!flush || !BeginWriteLocked()) return;  // else batched into the next write
  }
  // writing_ keeps the hold, so the call is still alive here.
  StartWrite(&request_);
}

void GrpcSessionStream::Send(v1::SessionCommand command) {
  Queue(std::move(command), /*flush=*/true);
}

void GrpcSessionStream::Defer(v1::SessionCommand command) {
  Queue(std::move(command), /*flush=*/false);
}

void GrpcSessionStream::Flush() {
  {
    absl::MutexLock lock(&mu_);
    if (!BeginWriteLocked()) return;
  }
  StartWrite(&request_);
}

void GrpcSessionStream::Acknowledge(uint64_t seq) {
  absl::MutexLock lock(&mu_);
  if (!writes_closed_ && !finish_requested_) acks_.push_back(seq);
}

void GrpcSessionStream::Finish() {
  enum { kNothing, kWrite, kWritesDone } next = kNothing;
  {
    absl::MutexLock lock(&mu_);
    if (finish_requested_) return;
    finish_requested_ = true;
    // A write in flight (or the one started here for deferred commands) half-closes
    // from OnWriteDone.
    if (BeginWriteLocked()) {
      next = kWrite;
    } else if (!writing_ && !writes_closed_) {
      writes_closed_ = true;
      writes_done_pending_ = true;
      next = kWritesDone;
    }
  }
  if (next == kWrite) StartWrite(&request_);
  if (next == kWritesDone) StartWritesDone();
}

void GrpcSessionStream::Cancel() { context_.TryCancel(); }

bool GrpcSessionStream::WaitClosed(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&closed_), timeout);
}

void GrpcSessionStream::OnReadDone(bool ok) {
  if (ok) {
    if (auto observer = observer_.lock()) observer->OnEvents(response_);
    response_.Clear();
    StartRead(&response_);
    return;
  }
  bool remove_hold;
  {
    absl::MutexLock lock(&mu_);
    reads_done_ = true;
    writes_closed_ = true;
    queue_.clear();
    remove_hold = TakeHoldLocked();
  }
  if (remove_hold) RemoveHold();
}

void GrpcSessionStream::OnWriteDone(bool ok) {
  enum { kNothing, kWrite, kWritesDone, kRemoveHold } next = kNothing;
  {
    absl::MutexLock lock(&mu_);
    if (!ok) writes_closed_ = true;  // the stream is broken; OnDone will follow
    writing_ = false;
    if (BeginWriteLocked()) {
      next = kWrite;
    } else {
      if (finish_requested_ && !writes_closed_) {
        writes_closed_ = true;
        writes_done_pending_ = true;
        next = kWritesDone;
      } else if (TakeHoldLocked()) {
        next = kRemoveHold;
      }
    }
  }
  switch (next) {
    case kWrite:
      StartWrite(&request_);
      break;
    case kWritesDone:
      StartWritesDone();
      break;
    case kRemoveHold:
      RemoveHold();
      break;
    case kNothing:
      break;
  }
}

void GrpcSessionStream::OnWritesDoneDone(bool ok) {
  bool remove_hold;
  {
    absl::MutexLock lock(&mu_);
    writes_done_pending_ = false;
    remove_hold = TakeHoldLocked();
  }
  if (remove_hold) RemoveHold();
}

void GrpcSessionStream::OnDone(const grpc::Status& status) {
  if (auto observer = observer_.lock()) observer->OnClosed(FromGrpcStatus(status));
  // Keep this object alive until the end of the function, whoever else lets go.
  std::shared_ptr<GrpcSessionStream> self = std::move(self_);
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

}  // namespace semaphored::internal
