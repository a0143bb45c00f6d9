#ifndef SEMAPHORED_TESTS_FAULTS_UNARY_CLIENT_H_
#define SEMAPHORED_TESTS_FAULTS_UNARY_CLIENT_H_

// A blocking client of one server address over the unary RPCs (as a client in another
// language would use them), for the fault tests.

#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "semaphored/v1/semaphore.grpc.pb.h"

namespace semaphored::testing {

// Bounds every call and wait of the test.
inline constexpr absl::Duration kCallTimeout = absl::Seconds(10);
inline constexpr absl::Duration kWaitTimeout = absl::Seconds(60);

inline void SetDuration(absl::Duration d, google::protobuf::Duration* out) {
  out->set_seconds(absl::ToInt64Seconds(d));
}

// A blocking unary client of one server address.
class UnaryClient {
 public:
  explicit UnaryClient(const std::string& address, absl::Duration call_timeout = kCallTimeout)
      : call_timeout_(call_timeout),
        stub_(v1::SemaphoreService::NewStub(
            grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))) {}

  grpc::Status CreateSession(const std::string& name, absl::Duration ttl,
                             std::string* secret) {
    v1::CreateSessionRequest request;
    request.set_client_name(name);
    SetDuration(ttl, request.mutable_ttl());
    v1::CreateSessionResponse response;
    grpc::ClientContext context;
    SetDeadline(&context, call_timeout_);
    grpc::Status status = stub_->CreateSession(&context, request, &response);
    *secret = response.session_secret();
    return status;
  }
  grpc::Status Refresh(const std::string& secret) {
    v1::RefreshSessionRequest request;
    request.set_session_secret(secret);
    v1::RefreshSessionResponse response;
    grpc::ClientContext context;
    SetDeadline(&context, call_timeout_);
    return stub_->RefreshSession(&context, request, &response);
  }
  // A set that waits up to `wait` (the call's deadline a little later).
  grpc::Status SetWaiting(const std::string& secret, const std::string& name,
                          v1::SetSemaphoreResponse* response,
                          absl::Duration wait = kWaitTimeout) {
    v1::SetSemaphoreRequest request;
    request.set_session_secret(secret);
    request.set_name(name);
    SetDuration(wait, request.mutable_timeout());
    grpc::ClientContext context;
    SetDeadline(&context, wait + absl::Seconds(5));
    return stub_->SetSemaphore(&context, request, response);
  }
  grpc::Status Clear(const std::string& secret, const std::string& name) {
    v1::ClearSemaphoreRequest request;
    request.set_session_secret(secret);
    request.set_name(name);
    v1::ClearSemaphoreResponse response;
    grpc::ClientContext context;
    SetDeadline(&context, call_timeout_);
    return stub_->ClearSemaphore(&context, request, &response);
  }
  grpc::Status Test(const std::string& name, v1::SemaphoreState* state) {
    v1::TestSemaphoreRequest request;
    request.set_name(name);
    v1::TestSemaphoreResponse response;
    grpc::ClientContext context;
    SetDeadline(&context, call_timeout_);
    grpc::Status status = stub_->TestSemaphore(&context, request, &response);
    *state = response.state();
    return status;
  }

 private:
  static void SetDeadline(grpc::ClientContext* context, absl::Duration d) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + d));
  }
  const absl::Duration call_timeout_;
  std::unique_ptr<v1::SemaphoreService::Stub> stub_;
};

}  // namespace semaphored::testing

#endif  // SEMAPHORED_TESTS_FAULTS_UNARY_CLIENT_H_
