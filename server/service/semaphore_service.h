#ifndef SEMAPHORED_SERVER_SERVICE_SEMAPHORE_SERVICE_H_
#define SEMAPHORED_SERVER_SERVICE_SEMAPHORE_SERVICE_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/grpcpp.h"
#include "semaphored/v1/semaphore.grpc.pb.h"
#include "common/clock.h"
#include "engine/core.h"
#include "server/service/service_limits.h"
#include "server/service/service_observer.h"

namespace semaphored::internal {

// Resolves a request's session secret: UNAUTHENTICATED when it is missing, malformed
// (CheckSecretFormat), unknown or belongs to a session that has ended.
absl::StatusOr<SessionId> AuthenticateSecret(const engine::Core& core, absl::string_view secret);

// The generated service with every method taking raw bytes, which the service
// parses itself (wire.h) so that unparsable requests get a useful error.
using SemaphoreServiceRawBase = v1::SemaphoreService::WithRawCallbackMethod_CreateSession<
    v1::SemaphoreService::WithRawCallbackMethod_RefreshSession<
        v1::SemaphoreService::WithRawCallbackMethod_CloseSession<
            v1::SemaphoreService::WithRawCallbackMethod_SetSemaphore<
                v1::SemaphoreService::WithRawCallbackMethod_ClearSemaphore<
                    v1::SemaphoreService::WithRawCallbackMethod_TestSemaphore<
                        v1::SemaphoreService::WithRawCallbackMethod_WaitSemaphoreClear<
                            v1::SemaphoreService::WithRawCallbackMethod_Ping<
                                v1::SemaphoreService::WithRawCallbackMethod_StreamSession<
                                    v1::SemaphoreService::Service>>>>>>>>>;

// semaphored.v1.SemaphoreService on the gRPC callback API. It only parses requests
// (wire.h), converts them (convert.h) and delegates to the Core; every error goes
// through ToGrpcStatus. A request that does not parse is answered INVALID_ARGUMENT
// naming the bad field (UNAUTHENTICATED for a malformed session_secret).
//
// Every method that acts for a session resolves request.session_secret with
// Core::Authenticate after the request's own fields are validated.
// SetSemaphore and WaitSemaphoreClear wait without holding a gRPC thread: the core's
// callback finishes the call; a cancelled call (client gone, deadline passed, server
// stopping) cancels its queued waiter at once, and the call's deadline also bounds
// the wait given to the core. StreamSession: see session_stream.h. Answers list at
// most limits.max_listed_holders holders (ServiceLimits).
//
// Every request is reported to the observer (OnRequest), every error answer too
// (through AnswerStatus / AnswerError), and every session opened (OnSessionCreated).
//
// Thread-safe; holds no state of its own beyond the pointers.
class SemaphoreServiceImpl final : public SemaphoreServiceRawBase {
 public:
  // `core`, `clock` (the core's clock) and `observer` must outlive the service and
  // every call it serves. A null observer means ServiceObserver::Null().
  SemaphoreServiceImpl(engine::Core* core, Clock* clock, ServiceObserver* observer = nullptr,
                       ServiceLimits limits = ServiceLimits())
      : core_(core),
        clock_(clock),
        observer_(observer != nullptr ? observer : ServiceObserver::Null()),
        limits_(limits) {}

  using Raw = grpc::ByteBuffer;
  grpc::ServerUnaryReactor* CreateSession(grpc::CallbackServerContext* context,
                                          const Raw* request, Raw* response) override;
  grpc::ServerUnaryReactor* RefreshSession(grpc::CallbackServerContext* context,
                                           const Raw* request, Raw* response) override;
  grpc::ServerUnaryReactor* CloseSession(grpc::CallbackServerContext* context,
                                         const Raw* request, Raw* response) override;
  grpc::ServerUnaryReactor* SetSemaphore(grpc::CallbackServerContext* context,
                                         const Raw* request, Raw* response) override;
  grpc::ServerUnaryReactor* ClearSemaphore(grpc::CallbackServerContext* context,
                                           const Raw* request, Raw* response) override;
  grpc::ServerUnaryReactor* TestSemaphore(grpc::CallbackServerContext* context,
                                          const Raw* request, Raw* response) override;
  grpc::ServerUnaryReactor* WaitSemaphoreClear(grpc::CallbackServerContext* context,
                                               const Raw* request,
                                               Raw* response) override;
  grpc::ServerUnaryReactor* Ping(grpc::CallbackServerContext* context, const Raw* request,
                                 Raw* response) override;
  grpc::ServerBidiReactor<Raw, Raw>* StreamSession(
      grpc::CallbackServerContext* context) override;

 private:
  engine::Core* const core_;
  Clock* const clock_;
  ServiceObserver* const observer_;
  const ServiceLimits limits_;
};

}  // namespace semaphored::internal

#endif  // SEMAPHORED_SERVER_SERVICE_SEMAPHORE_SERVICE_H_
