#ifndef SEMAPHORED_SERVER_SERVICE_SEMAPHORE_SERVICE_H_
#define SEMAPHORED_SERVER_SERVICE_SEMAPHORE_SERVICE_H_

#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"
#include "semaphored/v1/semaphore.grpc.pb.h"
#include "server/core/clock.h"
#include "server/core/core.h"

namespace semaphored::internal {

// Resolves a request's session secret: UNAUTHENTICATED when it is missing, malformed
// (CheckSecretFormat), unknown or belongs to a session that has ended.
absl::StatusOr<SessionId> AuthenticateSecret(const Core& core, absl::string_view secret);

// semaphored.v1.SemaphoreService on the gRPC callback API. It only converts requests
// (convert.h) and delegates to the Core; every error goes through ToGrpcStatus.
//
// Every method that acts for a session resolves request.session_secret with
// Core::Authenticate first (after the request's own fields are validated).
// SetSemaphore and WaitSemaphoreClear wait without holding a gRPC thread: the core's
// callback finishes the call; a cancelled call (client gone, deadline passed, server
// stopping) cancels its queued waiter at once, and the call's deadline also bounds
// the wait given to the core. StreamSession: see session_stream.h.
//
// Thread-safe; holds no state of its own beyond the pointers.
class SemaphoreServiceImpl final : public v1::SemaphoreService::CallbackService {
 public:
  // `core` and `clock` (the core's clock) must outlive the service and every call
  // it serves.
  SemaphoreServiceImpl(Core* core, Clock* clock) : core_(core), clock_(clock) {}

  grpc::ServerUnaryReactor* CreateSession(grpc::CallbackServerContext* context,
                                          const v1::CreateSessionRequest* request,
                                          v1::CreateSessionResponse* response) override;
  grpc::ServerUnaryReactor* RefreshSession(grpc::CallbackServerContext* context,
                                           const v1::RefreshSessionRequest* request,
                                           v1::RefreshSessionResponse* response) override;
  grpc::ServerUnaryReactor* CloseSession(grpc::CallbackServerContext* context,
                                         const v1::CloseSessionRequest* request,
                                         v1::CloseSessionResponse* response) override;
  grpc::ServerUnaryReactor* SetSemaphore(grpc::CallbackServerContext* context,
                                         const v1::SetSemaphoreRequest* request,
                                         v1::SetSemaphoreResponse* response) override;
  grpc::ServerUnaryReactor* ClearSemaphore(grpc::CallbackServerContext* context,
                                           const v1::ClearSemaphoreRequest* request,
                                           v1::ClearSemaphoreResponse* response) override;
  grpc::ServerUnaryReactor* TestSemaphore(grpc::CallbackServerContext* context,
                                          const v1::TestSemaphoreRequest* request,
                                          v1::TestSemaphoreResponse* response) override;
  grpc::ServerUnaryReactor* WaitSemaphoreClear(
      grpc::CallbackServerContext* context, const v1::WaitSemaphoreClearRequest* request,
      v1::WaitSemaphoreClearResponse* response) override;
  grpc::ServerUnaryReactor* Ping(grpc::CallbackServerContext* context,
                                 const v1::PingRequest* request,
                                 v1::PingResponse* response) override;
  grpc::ServerBidiReactor<v1::StreamSessionRequest, v1::StreamSessionResponse>*
  StreamSession(grpc::CallbackServerContext* context) override;

 private:
  Core* const core_;
  Clock* const clock_;
};

}  // namespace semaphored::internal

#endif  // SEMAPHORED_SERVER_SERVICE_SEMAPHORE_SERVICE_H_
