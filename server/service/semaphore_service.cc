// SemaphoreService's methods: each parses its request and hands it to Operations.

#include "server/service/semaphore_service.h"

#include <utility>

#include "common/proto_time.h"
#include "server/service/session_stream.h"
#include "server/service/unary_call.h"

namespace semaphored::server {

using ::semaphored::internal::FromCallDeadline;

namespace {

using Raw = grpc::ByteBuffer;

// What a unary call knows besides its request: its deadline, and (only CreateSession
// needs it) its peer.
CallInfo UnaryCallInfo(const grpc::CallbackServerContext& context, bool with_peer) {
  CallInfo info;
  info.deadline = FromCallDeadline(context.deadline());
  if (with_peer) info.peer = context.peer();
  return info;
}

// A cancelled call cancels its queued waiter at once; the waiter's completion then
// answers the call.
template <typename Call>
void CancelWaiterOnCancel(Call* call, Operations* operations, engine::WaiterId waiter) {
  call->OnCancelRun([operations, waiter] { operations->Cancel(waiter, nullptr); });
}

}  // namespace

grpc::ServerUnaryReactor* SemaphoreServiceImpl::CreateSession(
    grpc::CallbackServerContext* context, const Raw* in, Raw* out) {
  using Call = UnaryCall<v1::CreateSessionRequest, v1::CreateSessionResponse>;
  return ServeUnary<v1::CreateSessionRequest, v1::CreateSessionResponse>(
      *observer_, "CreateSession", AdmitAll, in, out, [&](Call* call) {
        operations_.CreateSession(call->request, UnaryCallInfo(*context, true),
                                  call->Completion());
      });
}

grpc::ServerUnaryReactor* SemaphoreServiceImpl::RefreshSession(
    grpc::CallbackServerContext* context, const Raw* in, Raw* out) {
  using Call = UnaryCall<v1::RefreshSessionRequest, v1::RefreshSessionResponse>;
  return ServeUnary<v1::RefreshSessionRequest, v1::RefreshSessionResponse>(
      *observer_, "RefreshSession", AdmitAll, in, out, [&](Call* call) {
        operations_.Refresh(call->request, UnaryCallInfo(*context, false),
                            call->Completion());
      });
}

grpc::ServerUnaryReactor* SemaphoreServiceImpl::CloseSession(
    grpc::CallbackServerContext* context, const Raw* in, Raw* out) {
  using Call = UnaryCall<v1::CloseSessionRequest, v1::CloseSessionResponse>;
  return ServeUnary<v1::CloseSessionRequest, v1::CloseSessionResponse>(
      *observer_, "CloseSession", AdmitAll, in, out, [&](Call* call) {
        operations_.Close(call->request, UnaryCallInfo(*context, false),
                          call->Completion());
      });
}

grpc::ServerUnaryReactor* SemaphoreServiceImpl::SetSemaphore(
    grpc::CallbackServerContext* context, const Raw* in, Raw* out) {
  using Call = UnaryCall<v1::SetSemaphoreRequest, v1::SetSemaphoreResponse>;
  return ServeUnary<v1::SetSemaphoreRequest, v1::SetSemaphoreResponse>(
      *observer_, "SetSemaphore", AdmitAll, in, out, [&](Call* call) {
        const engine::WaiterId waiter = operations_.Set(
            call->request, UnaryCallInfo(*context, false), call->Completion());
        if (waiter != 0) CancelWaiterOnCancel(call, &operations_, waiter);
      });
}

grpc::ServerUnaryReactor* SemaphoreServiceImpl::ClearSemaphore(
    grpc::CallbackServerContext* context, const Raw* in, Raw* out) {
  using Call = UnaryCall<v1::ClearSemaphoreRequest, v1::ClearSemaphoreResponse>;
  return ServeUnary<v1::ClearSemaphoreRequest, v1::ClearSemaphoreResponse>(
      *observer_, "ClearSemaphore", AdmitAll, in, out, [&](Call* call) {
        operations_.Clear(call->request, UnaryCallInfo(*context, false),
                          call->Completion());
      });
}

grpc::ServerUnaryReactor* SemaphoreServiceImpl::TestSemaphore(
    grpc::CallbackServerContext* /*context*/, const Raw* in, Raw* out) {
  using Call = UnaryCall<v1::TestSemaphoreRequest, v1::TestSemaphoreResponse>;
  return ServeUnary<v1::TestSemaphoreRequest, v1::TestSemaphoreResponse>(
      *observer_, "TestSemaphore", AdmitAll, in, out,
      [&](Call* call) { operations_.Test(call->request, call->Completion()); });
}

grpc::ServerUnaryReactor* SemaphoreServiceImpl::WaitSemaphoreClear(
    grpc::CallbackServerContext* context, const Raw* in, Raw* out) {
  using Call = UnaryCall<v1::WaitSemaphoreClearRequest, v1::WaitSemaphoreClearResponse>;
  return ServeUnary<v1::WaitSemaphoreClearRequest, v1::WaitSemaphoreClearResponse>(
      *observer_, "WaitSemaphoreClear", AdmitAll, in, out, [&](Call* call) {
        const engine::WaiterId waiter = operations_.WaitClear(
            call->request, UnaryCallInfo(*context, false), call->Completion());
        if (waiter != 0) CancelWaiterOnCancel(call, &operations_, waiter);
      });
}

grpc::ServerUnaryReactor* SemaphoreServiceImpl::Ping(
    grpc::CallbackServerContext* /*context*/, const Raw* in, Raw* out) {
  using Call = UnaryCall<v1::PingRequest, v1::PingResponse>;
  return ServeUnary<v1::PingRequest, v1::PingResponse>(
      *observer_, "Ping", AdmitAll, in, out,
      [&](Call* call) { operations_.Ping(call->request, call->Completion()); });
}

grpc::ServerBidiReactor<Raw, Raw>* SemaphoreServiceImpl::StreamSession(
    grpc::CallbackServerContext* context) {
  observer_->OnRequest("StreamSession");
  return NewSessionStream(&operations_, observer_, limits_, context);
}

}  // namespace semaphored::server
