#include "server/service/semaphore_service.h"

#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/service/convert.h"
#include "server/service/peer.h"
#include "server/service/service_observer.h"
#include "server/service/session_stream.h"
#include "server/service/wire.h"

namespace semaphored::internal {

using engine::Core;
using engine::NewSession;
using engine::SetArgs;
using engine::SetOutcome;
using engine::WaitClearArgs;
using engine::WaitClearOutcome;
using engine::WaiterId;

namespace {

// What every unary call needs besides its own request and response.
struct CallEnv {
  Core* core;
  ServiceObserver* observer;
  const char* method;  // for the observer
};

using Raw = grpc::ByteBuffer;

// One unary call on a raw method: owns the parsed request and the response, and
// serializes the response when the call finishes OK. Answer() is called exactly once
// (for waits, by the core's callback) and finishes the call; the reactor deletes
// itself in OnDone, which gRPC calls only after Finish, so a callback's raw pointer
// stays valid until then. A cancelled call cancels its queued waiter, whose callback
// then answers (CANCELLED; gRPC reports the cancellation to the client anyway).
template <typename Request, typename Response>
class UnaryCall final : public grpc::ServerUnaryReactor {
 public:
  UnaryCall(Core* core, ServiceObserver* observer, Raw* out)
      : core_(core), observer_(observer), out_(out) {}

  Request request;
  Response response;

  // Records the queued waiter (Set/WaitClear returned a nonzero id), cancelling it at
  // once if the call was cancelled meanwhile.
  void Queued(WaiterId waiter) ABSL_LOCKS_EXCLUDED(mu_) {
    bool cancel = false;
    {
      absl::MutexLock lock(&mu_);
      if (answered_) return;
      waiter_ = waiter;
      cancel = cancelled_;
    }
    if (cancel) core_->Cancel(waiter);
  }

  // Finishes the call; on OK with `response`, which must be filled before.
  void Answer(const absl::Status& status) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      answered_ = true;
    }
    if (status.ok()) SerializeToBuffer(response, out_);
    Finish(AnswerStatus(*observer_, status));
  }

  void OnCancel() override ABSL_LOCKS_EXCLUDED(mu_) {
    WaiterId waiter = 0;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      if (answered_) return;
      waiter = waiter_;
    }
    // Cancel answers through the callback (possibly right here), which finishes.
    if (waiter != 0) core_->Cancel(waiter);
  }

  void OnDone() override { delete this; }

 private:
  Core* const core_;
  ServiceObserver* const observer_;
  Raw* const out_;
  absl::Mutex mu_;
  // State below is protected by mu_.
  WaiterId waiter_ ABSL_GUARDED_BY(mu_) = 0;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool answered_ ABSL_GUARDED_BY(mu_) = false;
};

// Parses the request and hands the call to `start`, which must see to it that
// Answer() is called once; a request that does not parse is answered at once.
template <typename Request, typename Response, typename Start>
grpc::ServerUnaryReactor* Serve(const CallEnv& env, const Raw* in, Raw* out,
                                Start start) {
  env.observer->OnRequest(env.method);
  auto* call = new UnaryCall<Request, Response>(env.core, env.observer, out);
  absl::Status parsed = ParseMessage(BufferBytes(*in), &call->request);
  if (!parsed.ok()) {
    call->Answer(parsed);
  } else {
    start(call);
  }
  return call;
}

// As Serve, for methods answered at once: `handle(request, &response)` returns the
// call's status.
template <typename Request, typename Response, typename Handle>
grpc::ServerUnaryReactor* ServeNow(const CallEnv& env, const Raw* in, Raw* out,
                                   Handle handle) {
  return Serve<Request, Response>(env, in, out, [&](UnaryCall<Request, Response>* call) {
    call->Answer(handle(call->request, &call->response));
  });
}

}  // namespace

absl::StatusOr<SessionId> AuthenticateSecret(const Core& core, absl::string_view secret) {
  if (absl::Status s = CheckSecretFormat(secret); !s.ok()) return s;
  return core.Authenticate(secret);
}

grpc::ServerUnaryReactor* SemaphoreServiceImpl::CreateSession(
    grpc::CallbackServerContext* context, const Raw* in, Raw* out) {
  return ServeNow<v1::CreateSessionRequest, v1::CreateSessionResponse>(
      CallEnv{core_, observer_, "CreateSession"}, in, out,
      [&](const v1::CreateSessionRequest& request, v1::CreateSessionResponse* response) {
        absl::StatusOr<SessionArgs> args = ToSessionArgs(request);
        if (!args.ok()) return args.status();
        const std::string peer = context->peer();
        // The core counts sessions per caller host (the port changes per connection).
        absl::StatusOr<NewSession> session =
            core_->CreateSession(args->client_name, args->ttl, PeerHost(peer));
        if (!session.ok()) return session.status();
        observer_->OnSessionCreated(*session, args->client_name, peer);
        *response = ToCreateSessionResponse(*session);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* SemaphoreServiceImpl::RefreshSession(
    grpc::CallbackServerContext* /*context*/, const Raw* in, Raw* out) {
  return ServeNow<v1::RefreshSessionRequest, v1::RefreshSessionResponse>(
      CallEnv{core_, observer_, "RefreshSession"}, in, out,
      [&](const v1::RefreshSessionRequest& request,
          v1::RefreshSessionResponse* response) {
        absl::StatusOr<SessionId> session =
            AuthenticateSecret(*core_, request.session_secret());
        if (!session.ok()) return session.status();
        absl::StatusOr<absl::Time> expire = core_->Refresh(*session);
        if (!expire.ok()) return expire.status();
        *response = ToRefreshSessionResponse(*expire);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* SemaphoreServiceImpl::CloseSession(
    grpc::CallbackServerContext* /*context*/, const Raw* in, Raw* out) {
  return ServeNow<v1::CloseSessionRequest, v1::CloseSessionResponse>(
      CallEnv{core_, observer_, "CloseSession"}, in, out,
      [&](const v1::CloseSessionRequest& request, v1::CloseSessionResponse* response) {
        absl::StatusOr<SessionId> session =
            AuthenticateSecret(*core_, request.session_secret());
        if (!session.ok()) return session.status();
        absl::StatusOr<int32_t> released = core_->CloseSession(*session);
        if (!released.ok()) return released.status();
        response->set_released_count(*released);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* SemaphoreServiceImpl::SetSemaphore(
    grpc::CallbackServerContext* context, const Raw* in, Raw* out) {
  using Call = UnaryCall<v1::SetSemaphoreRequest, v1::SetSemaphoreResponse>;
  return Serve<v1::SetSemaphoreRequest, v1::SetSemaphoreResponse>(
      CallEnv{core_, observer_, "SetSemaphore"}, in, out, [&](Call* call) {
        absl::StatusOr<SetArgs> args =
            ToSetArgs(call->request, FromCallDeadline(context->deadline()));
        if (!args.ok()) return call->Answer(args.status());
        absl::StatusOr<SessionId> session =
            AuthenticateSecret(*core_, call->request.session_secret());
        if (!session.ok()) return call->Answer(session.status());
        const WaiterId waiter = core_->Set(
            *session, *std::move(args),
            [call](absl::StatusOr<SetOutcome> outcome) {
              if (outcome.ok()) call->response = ToSetSemaphoreResponse(*outcome);
              call->Answer(outcome.status());
            });
        if (waiter != 0) call->Queued(waiter);
      });
}

grpc::ServerUnaryReactor* SemaphoreServiceImpl::ClearSemaphore(
    grpc::CallbackServerContext* /*context*/, const Raw* in, Raw* out) {
  return ServeNow<v1::ClearSemaphoreRequest, v1::ClearSemaphoreResponse>(
      CallEnv{core_, observer_, "ClearSemaphore"}, in, out,
      [&](const v1::ClearSemaphoreRequest& request,
          v1::ClearSemaphoreResponse* response) {
        absl::StatusOr<std::string> name = ToClearName(request);
        if (!name.ok()) return name.status();
        absl::StatusOr<SessionId> session =
            AuthenticateSecret(*core_, request.session_secret());
        if (!session.ok()) return session.status();
        absl::StatusOr<int32_t> released = core_->Clear(*session, *name);
        if (!released.ok()) return released.status();
        response->set_released_permits(*released);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* SemaphoreServiceImpl::TestSemaphore(
    grpc::CallbackServerContext* /*context*/, const Raw* in, Raw* out) {
  return ServeNow<v1::TestSemaphoreRequest, v1::TestSemaphoreResponse>(
      CallEnv{core_, observer_, "TestSemaphore"}, in, out,
      [&](const v1::TestSemaphoreRequest& request, v1::TestSemaphoreResponse* response) {
        absl::StatusOr<std::string> name = ToTestName(request);
        if (!name.ok()) return name.status();
        *response->mutable_state() = ToSemaphoreState(core_->Test(*name));
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* SemaphoreServiceImpl::WaitSemaphoreClear(
    grpc::CallbackServerContext* context, const Raw* in, Raw* out) {
  using Call = UnaryCall<v1::WaitSemaphoreClearRequest, v1::WaitSemaphoreClearResponse>;
  return Serve<v1::WaitSemaphoreClearRequest, v1::WaitSemaphoreClearResponse>(
      CallEnv{core_, observer_, "WaitSemaphoreClear"}, in, out, [&](Call* call) {
        absl::StatusOr<WaitClearArgs> args =
            ToWaitClearArgs(call->request, FromCallDeadline(context->deadline()));
        if (!args.ok()) return call->Answer(args.status());
        absl::StatusOr<SessionId> session =
            AuthenticateSecret(*core_, call->request.session_secret());
        if (!session.ok()) return call->Answer(session.status());
        const WaiterId waiter =
            core_->WaitClear(*session, *std::move(args),
                             [call](absl::StatusOr<WaitClearOutcome> outcome) {
                               if (outcome.ok()) {
                                 call->response = ToWaitSemaphoreClearResponse(*outcome);
                               }
                               call->Answer(outcome.status());
                             });
        if (waiter != 0) call->Queued(waiter);
      });
}

grpc::ServerUnaryReactor* SemaphoreServiceImpl::Ping(
    grpc::CallbackServerContext* /*context*/, const Raw* in, Raw* out) {
  return ServeNow<v1::PingRequest, v1::PingResponse>(
      CallEnv{core_, observer_, "Ping"}, in, out,
      [](const v1::PingRequest&, v1::PingResponse*) { return absl::OkStatus(); });
}

grpc::ServerBidiReactor<Raw, Raw>* SemaphoreServiceImpl::StreamSession(
    grpc::CallbackServerContext* context) {
  observer_->OnRequest("StreamSession");
  return NewSessionStream(core_, clock_, observer_, limits_, context);
}

}  // namespace semaphored::internal
