#ifndef SEMAPHORED_SERVER_SERVICE_SEMAPHORE_SERVICE_H_
#define SEMAPHORED_SERVER_SERVICE_SEMAPHORE_SERVICE_H_

#include "grpcpp/grpcpp.h"
#include "semaphored/v1/semaphore.grpc.pb.h"
#include "common/clock.h"
#include "engine/core.h"
#include "server/service/operations.h"
#include "server/service/service_limits.h"
#include "server/service/call_observer.h"

namespace semaphored::server {

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

// semaphored.v1.SemaphoreService on the gRPC callback API. Each unary method parses
// its request (wire.h; ServeUnary) and hands it to the operation layer (Operations),
// which authenticates, validates, calls the engine and answers; every error goes
// through AnswerStatus. A request that does not parse is answered INVALID_ARGUMENT
// naming the bad field (UNAUTHENTICATED for a malformed session_secret).
//
// Every method that acts for a session resolves request.session_secret after the
// request's own fields are validated.
// SetSemaphore and WaitSemaphoreClear wait without holding a gRPC thread: the
// operation's completion finishes the call; a cancelled call (client gone, deadline
// passed, server stopping) cancels its queued waiter at once, and the call's deadline
// also bounds the wait given to the engine. StreamSession: see session_stream.h.
// Answers list at most limits.max_listed_holders holders (ServiceLimits).
//
// Every request is reported to the observer (OnRequest), every error answer too
// (through AnswerStatus / AnswerError), and every session opened (OnSessionCreated).
//
// Thread-safe; holds no state of its own beyond the operation layer's pointers.
class SemaphoreServiceImpl final : public SemaphoreServiceRawBase {
 public:
  // `core` and `observer` must outlive the service and every call it serves. A
  // null observer means CallObserver::Null().
  explicit SemaphoreServiceImpl(engine::Core* core, CallObserver* observer = nullptr,
                       ServiceLimits limits = ServiceLimits())
      : observer_(observer != nullptr ? observer : CallObserver::Null()),
        operations_(core, observer_),
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
  CallObserver* const observer_;
  Operations operations_;
  const ServiceLimits limits_;
};

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_SERVICE_SEMAPHORE_SERVICE_H_
