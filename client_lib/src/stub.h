#ifndef SEMAPHORED_CLIENT_LIB_SRC_STUB_H_
#define SEMAPHORED_CLIENT_LIB_SRC_STUB_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client_stream.h"
#include "client_stream_observer.h"
#include "semaphored/v1/semaphore.pb.h"

// The transport under the client library: an abstract stub (the unary calls the
// library makes) and session streams. GrpcStub implements it over gRPC; unit tests
// inject fakes. Errors are already absl::Status here.
namespace semaphored::internal {

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
