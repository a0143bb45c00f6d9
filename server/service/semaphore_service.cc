#include "server/service/semaphore_service.h"

#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/service/convert.h"
#include "server/service/session_stream.h"

namespace semaphored::internal {
namespace {

// Finishes a call at once with `status` through the context's default reactor.
grpc::ServerUnaryReactor* Finished(grpc::CallbackServerContext* context,
                                   const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// A unary call that waits for the core's answer (set, wait-for-clear). The core's
// callback calls Answer() exactly once, which finishes the call; the reactor deletes
// itself in OnDone, which gRPC calls only after Finish, so the callback's raw pointer
// stays valid until then. A cancelled call cancels the queued waiter, whose callback
// then answers (CANCELLED; gRPC reports the cancellation to the client anyway).
class WaitReactor final : public grpc::ServerUnaryReactor {
 public:
  explicit WaitReactor(Core* core) : core_(core) {}

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

  // The core's answer; the response message must be filled before.
  void Answer(const absl::Status& status) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      answered_ = true;
    }
    Finish(ToGrpcStatus(status));
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
  absl::Mutex mu_;
  // State below is protected by mu_.
  WaiterId waiter_ ABSL_GUARDED_BY(mu_) = 0;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool answered_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

absl::StatusOr<SessionId> AuthenticateSecret(const Core& core,
                                             absl::string_view secret) {
  if (absl::Status s = CheckSecretFormat(secret); !s.ok()) return s;
  return core.Authenticate(secret);
}

grpc::ServerUnaryReactor* SemaphoreServiceImpl::CreateSession(
    grpc::CallbackServerContext* context, const v1::CreateSessionRequest* request,
    v1::CreateSessionResponse* response) {
  absl::StatusOr<SessionArgs> args = ToSessionArgs(*request);
  if (!args.ok()) return Finished(context, args.status());
  absl::StatusOr<NewSession> session =
      core_->CreateSession(std::move(args->client_name), args->ttl, context->peer());
  if (!session.ok()) return Finished(context, session.status());
  *response = ToCreateSessionResponse(*session);
  return Finished(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* SemaphoreServiceImpl::RefreshSession(
    grpc::CallbackServerContext* context, const v1::RefreshSessionRequest* request,
    v1::RefreshSessionResponse* response) {
  absl::StatusOr<SessionId> session = AuthenticateSecret(*core_, request->session_secret());
  if (!session.ok()) return Finished(context, session.status());
  absl::StatusOr<absl::Time> expire = core_->Refresh(*session);
  if (!expire.ok()) return Finished(context, expire.status());
  *response = ToRefreshSessionResponse(*expire);
  return Finished(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* SemaphoreServiceImpl::CloseSession(
    grpc::CallbackServerContext* context, const v1::CloseSessionRequest* request,
    v1::CloseSessionResponse* response) {
  absl::StatusOr<SessionId> session = AuthenticateSecret(*core_, request->session_secret());
  if (!session.ok()) return Finished(context, session.status());
  absl::StatusOr<int32_t> released = core_->CloseSession(*session);
  if (!released.ok()) return Finished(context, released.status());
  response->set_released_count(*released);
  return Finished(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* SemaphoreServiceImpl::SetSemaphore(
    grpc::CallbackServerContext* context, const v1::SetSemaphoreRequest* request,
    v1::SetSemaphoreResponse* response) {
  absl::StatusOr<SetArgs> args =
      ToSetArgs(*request, clock_->Now(), FromCallDeadline(context->deadline()));
  if (!args.ok()) return Finished(context, args.status());
  absl::StatusOr<SessionId> session = AuthenticateSecret(*core_, request->session_secret());
  if (!session.ok()) return Finished(context, session.status());
  auto* reactor = new WaitReactor(core_);
  const WaiterId waiter = core_->Set(
      *session, *std::move(args), [reactor, response](absl::StatusOr<SetOutcome> outcome) {
        if (outcome.ok()) *response = ToSetSemaphoreResponse(*outcome);
        reactor->Answer(outcome.status());
      });
  if (waiter != 0) reactor->Queued(waiter);
  return reactor;
}

grpc::ServerUnaryReactor* SemaphoreServiceImpl::ClearSemaphore(
    grpc::CallbackServerContext* context, const v1::ClearSemaphoreRequest* request,
    v1::ClearSemaphoreResponse* response) {
  absl::StatusOr<std::string> name = ToClearName(*request);
  if (!name.ok()) return Finished(context, name.status());
  absl::StatusOr<SessionId> session = AuthenticateSecret(*core_, request->session_secret());
  if (!session.ok()) return Finished(context, session.status());
  absl::StatusOr<int32_t> released = core_->Clear(*session, *name);
  if (!released.ok()) return Finished(context, released.status());
  response->set_released_permits(*released);
  return Finished(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* SemaphoreServiceImpl::TestSemaphore(
    grpc::CallbackServerContext* context, const v1::TestSemaphoreRequest* request,
    v1::TestSemaphoreResponse* response) {
  absl::StatusOr<std::string> name = ToTestName(*request);
  if (!name.ok()) return Finished(context, name.status());
  *response->mutable_state() = ToSemaphoreState(core_->Test(*name));
  return Finished(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* SemaphoreServiceImpl::WaitSemaphoreClear(
    grpc::CallbackServerContext* context, const v1::WaitSemaphoreClearRequest* request,
    v1::WaitSemaphoreClearResponse* response) {
  absl::StatusOr<WaitClearArgs> args =
      ToWaitClearArgs(*request, clock_->Now(), FromCallDeadline(context->deadline()));
  if (!args.ok()) return Finished(context, args.status());
  absl::StatusOr<SessionId> session = AuthenticateSecret(*core_, request->session_secret());
  if (!session.ok()) return Finished(context, session.status());
  auto* reactor = new WaitReactor(core_);
  const WaiterId waiter =
      core_->WaitClear(*session, std::move(args->name), args->deadline,
                       [reactor, response](absl::StatusOr<WaitClearOutcome> outcome) {
                         if (outcome.ok()) *response = ToWaitSemaphoreClearResponse(*outcome);
                         reactor->Answer(outcome.status());
                       });
  if (waiter != 0) reactor->Queued(waiter);
  return reactor;
}

grpc::ServerUnaryReactor* SemaphoreServiceImpl::Ping(grpc::CallbackServerContext* context,
                                                     const v1::PingRequest* /*request*/,
                                                     v1::PingResponse* /*response*/) {
  return Finished(context, absl::OkStatus());
}

grpc::ServerBidiReactor<v1::StreamSessionRequest, v1::StreamSessionResponse>*
SemaphoreServiceImpl::StreamSession(grpc::CallbackServerContext* context) {
  return NewSessionStream(core_, clock_, context);
}

}  // namespace semaphored::internal
