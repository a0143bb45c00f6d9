#ifndef SEMAPHORED_CLIENT_LIB_SRC_GRPC_SESSION_STREAM_H_
#define SEMAPHORED_CLIENT_LIB_SRC_GRPC_SESSION_STREAM_H_

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "semaphored/v1/semaphore.grpc.pb.h"
#include "stub.h"

namespace semaphored::internal {

// A StreamSession call driven by gRPC's callback API. One read is always pending; at
// most one write is in flight, and commands sent meanwhile are batched into the next
// message (up to kMaxBatchBytes and kMaxBatchCommands); deferred commands wait for
// the next Send or Flush. The reactor never blocks: the observer's callbacks must not
// block either.
//
// Lifetime: the object keeps itself alive until gRPC calls OnDone. Send/Finish may be
// called from any thread, so the reactor holds a hold (AddHold) until the server has
// ended the stream and no write started from outside is in flight.
class GrpcSessionStream final
    : public ClientStream,
      public grpc::ClientBidiReactor<semaphored::v1::StreamSessionRequest,
                                     semaphored::v1::StreamSessionResponse> {
 public:
  // Stays well under the server's message size limit.
  static constexpr size_t kMaxBatchBytes = 32 * 1024;
  // The protocol's limit of commands per StreamSessionRequest (semaphore.proto): the
  // server ends a stream whose message carries more.
  static constexpr int kMaxBatchCommands = 64;
  // Acknowledgements carried by one message at most (the rest go with the next).
  static constexpr size_t kMaxBatchAcks = 1024;

  static std::shared_ptr<GrpcSessionStream> Start(
      semaphored::v1::SemaphoreService::Stub* stub, std::string secret,
      std::weak_ptr<ClientStreamObserver> observer);

  void Send(semaphored::v1::SessionCommand command) override ABSL_LOCKS_EXCLUDED(mu_);
  void Defer(semaphored::v1::SessionCommand command) override ABSL_LOCKS_EXCLUDED(mu_);
  void Flush() override ABSL_LOCKS_EXCLUDED(mu_);
  void Acknowledge(uint64_t seq) override ABSL_LOCKS_EXCLUDED(mu_);
  void Finish() override ABSL_LOCKS_EXCLUDED(mu_);
  void Cancel() override;
  bool WaitClosed(absl::Duration timeout) override ABSL_LOCKS_EXCLUDED(mu_);

  void OnReadDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnWriteDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnWritesDoneDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnDone(const grpc::Status& status) override ABSL_LOCKS_EXCLUDED(mu_);

 private:
  GrpcSessionStream(std::string secret, std::weak_ptr<ClientStreamObserver> observer);
  // Queues `command` (unless the stream is closing); with `flush`, also starts a
  // write when none is in flight.
  void Queue(semaphored::v1::SessionCommand command, bool flush)
      ABSL_LOCKS_EXCLUDED(mu_);
  // When commands are queued and no write is in flight: marks a write in flight and
  // fills request_; the caller then calls StartWrite(&request_) without the lock.
  bool BeginWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves queued commands into request_ for the next write.
  void FillRequestLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // True when the hold can go now (and marks it gone): the caller calls RemoveHold()
  // without the lock, as its last use of this object.
  bool TakeHoldLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  grpc::ClientContext context_;
  const std::weak_ptr<ClientStreamObserver> observer_;
  std::shared_ptr<GrpcSessionStream> self_;  // until OnDone
  // Touched only by gRPC's read reactions (one read at a time).
  semaphored::v1::StreamSessionResponse response_;
  // The message being written: filled under mu_ by whoever set writing_, then owned
  // by gRPC until OnWriteDone.
  semaphored::v1::StreamSessionRequest request_;

  absl::Mutex mu_;
  // State below is protected by mu_.
  std::string secret_ ABSL_GUARDED_BY(mu_);  // sent in the first message, then cleared
  std::deque<semaphored::v1::SessionCommand> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> acks_ ABSL_GUARDED_BY(mu_);  // for the next message
  bool writing_ ABSL_GUARDED_BY(mu_) = false;         // a write is in flight
  bool finish_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool writes_done_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool writes_closed_ ABSL_GUARDED_BY(mu_) = false;   // no more writes will start
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool hold_removed_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;          // OnDone has told the observer
};

}  // namespace semaphored::internal

#endif  // SEMAPHORED_CLIENT_LIB_SRC_GRPC_SESSION_STREAM_H_
