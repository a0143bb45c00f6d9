#ifndef SEMAPHORED_CLIENT_LIB_SRC_STUB_H_
#define SEMAPHORED_CLIENT_LIB_SRC_STUB_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "semaphored/v1/semaphore.pb.h"

// The transport under the client library: an abstract stub (the unary calls the
// library makes) and session streams. GrpcStub implements it over gRPC; unit tests
// inject fakes. Errors are already absl::Status here.
namespace semaphored::internal {

// Told what happens on one session stream.
class ClientStreamObserver {
 public:
  virtual ~ClientStreamObserver() = default;
  // Answers and pushes, in the order the server sent them; one call at a time. May
  // move from `response`. Must not block.
  virtual void OnEvents(semaphored::v1::StreamSessionResponse& response) = 0;
  // The stream has ended with `status`; called once, after the last OnEvents.
  virtual void OnClosed(const absl::Status& status) = 0;
};

// One StreamSession call. Thread-safe.
class ClientStream {
 public:
  virtual ~ClientStream() = default;
  // Queues `command` for sending, in order. Commands queued while a write is in flight
  // go together in the next message. Never blocks. Dropped once the stream has ended
  // (the observer is told by OnClosed).
  virtual void Send(semaphored::v1::SessionCommand command) = 0;
  // Queues `command` without starting a write: it goes with the next Send, or at the
  // next Flush. For commands whose answer nobody waits for, so that they share a
  // message with what follows.
  virtual void Defer(semaphored::v1::SessionCommand command) = 0;
  // Starts writing the queued commands, if any and no write is in flight.
  virtual void Flush() = 0;
  // Half-closes the stream once the queued commands are written.
  virtual void Finish() = 0;
  // Cancels the stream; OnClosed follows.
  virtual void Cancel() = 0;
  // Waits up to `timeout` until OnClosed has returned; true when it has.
  virtual bool WaitClosed(absl::Duration timeout) = 0;
};

// The server's API as the library uses it. Thread-safe. Calls block up to `timeout`.
class Stub {
 public:
  virtual ~Stub() = default;
  virtual absl::StatusOr<semaphored::v1::CreateSessionResponse> CreateSession(
      const semaphored::v1::CreateSessionRequest& request, absl::Duration timeout) = 0;
  virtual absl::StatusOr<semaphored::v1::TestSemaphoreResponse> TestSemaphore(
      const semaphored::v1::TestSemaphoreRequest& request, absl::Duration timeout) = 0;
  virtual absl::Status Ping(absl::Duration timeout) = 0;
  // Starts the session stream of the session whose secret is `secret` (sent in the
  // first message). The stream keeps only a weak reference to `observer`.
  virtual std::shared_ptr<ClientStream> OpenStream(
      std::string secret, std::weak_ptr<ClientStreamObserver> observer) = 0;
};

}  // namespace semaphored::internal

#endif  // SEMAPHORED_CLIENT_LIB_SRC_STUB_H_
