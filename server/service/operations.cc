// The server's one operation layer: authenticate, convert, call the engine, answer.

#include "server/service/operations.h"

#include <string>
#include <utility>

#include "server/service/convert.h"
#include "server/service/peer.h"

namespace semaphored::server {

using ::semaphored::internal::Clock;
using ::semaphored::internal::SessionId;

using engine::NewSession;
using engine::SetArgs;
using engine::SetOutcome;
using engine::WaitClearArgs;
using engine::WaitClearOutcome;
using engine::WaiterId;

Operations::Operations(engine::Core* core, CallObserver* observer)
    : core_(core),
      observer_(observer != nullptr ? observer : CallObserver::Null()) {}

absl::StatusOr<SessionId> Operations::Authenticate(absl::string_view secret) const {
  if (absl::Status s = CheckSecretFormat(secret); !s.ok()) return s;
  return core_->Authenticate(secret);
}

absl::StatusOr<SessionId> Operations::SessionOf(const CallInfo& call,
                                                absl::string_view secret) const {
  if (call.session.has_value()) return *call.session;
  return Authenticate(secret);
}

template <typename Response>
void Operations::Answer(Done<Response> done,
                        absl::StatusOr<std::common_type_t<Response>> answer) const {
  if (!core_->durable()) return std::move(done)(std::move(answer));
  core_->WhenDurable([done = std::move(done), answer = std::move(answer)]() mutable {
    std::move(done)(std::move(answer));
  });
}

void Operations::CreateSession(const v1::CreateSessionRequest& request,
                               const CallInfo& call,
                               Done<v1::CreateSessionResponse> done) {
  absl::StatusOr<SessionArgs> args = ToSessionArgs(request);
  if (!args.ok()) return Answer(std::move(done), args.status());
  // The engine counts sessions per caller host (the port changes per connection).
  absl::StatusOr<NewSession> session =
      core_->CreateSession(args->client_name, args->ttl, PeerHost(call.peer));
  if (!session.ok()) return Answer(std::move(done), session.status());
  core_->WhenDurable([this, session = *std::move(session), client_name = args->client_name,
                      peer = call.peer, done = std::move(done)]() mutable {
    observer_->OnSessionCreated(session, client_name, peer);
    std::move(done)(ToCreateSessionResponse(session));
  });
}

void Operations::Refresh(const v1::RefreshSessionRequest& request, const CallInfo& call,
                         Done<v1::RefreshSessionResponse> done) {
  absl::StatusOr<SessionId> session = SessionOf(call, request.session_secret());
  if (!session.ok()) return Answer(std::move(done), session.status());
  absl::StatusOr<absl::Time> expire = core_->Refresh(*session);
  if (!expire.ok()) return Answer(std::move(done), expire.status());
  Answer(std::move(done), ToRefreshSessionResponse(*expire));
}

void Operations::Close(const v1::CloseSessionRequest& request, const CallInfo& call,
                       Done<v1::CloseSessionResponse> done) {
  absl::StatusOr<SessionId> session = SessionOf(call, request.session_secret());
  if (!session.ok()) return Answer(std::move(done), session.status());
  absl::StatusOr<int32_t> released = core_->CloseSession(*session);
  if (!released.ok()) return Answer(std::move(done), released.status());
  v1::CloseSessionResponse response;
  response.set_released_count(*released);
  Answer(std::move(done), std::move(response));
}

WaiterId Operations::Set(const v1::SetSemaphoreRequest& request, const CallInfo& call,
                         Done<v1::SetSemaphoreResponse> done) {
  absl::StatusOr<SetArgs> args = ToSetArgs(request, call.deadline);
  if (!args.ok()) {
    Answer(std::move(done), args.status());
    return 0;
  }
  absl::StatusOr<SessionId> session = SessionOf(call, request.session_secret());
  if (!session.ok()) {
    Answer(std::move(done), session.status());
    return 0;
  }
  args->seq = call.seq;
  return core_->Set(*session, *std::move(args),
                    [done = std::move(done)](absl::StatusOr<SetOutcome> outcome) mutable {
                      if (!outcome.ok()) return std::move(done)(outcome.status());
                      std::move(done)(ToSetSemaphoreResponse(*outcome));
                    });
}

void Operations::Clear(const v1::ClearSemaphoreRequest& request, const CallInfo& call,
                       Done<v1::ClearSemaphoreResponse> done) {
  absl::StatusOr<std::string> name = ToClearName(request);
  if (!name.ok()) return Answer(std::move(done), name.status());
  absl::StatusOr<SessionId> session = SessionOf(call, request.session_secret());
  if (!session.ok()) return Answer(std::move(done), session.status());
  absl::StatusOr<int32_t> released = core_->Clear(*session, *name, call.seq);
  if (!released.ok()) return Answer(std::move(done), released.status());
  v1::ClearSemaphoreResponse response;
  response.set_released_permits(*released);
  Answer(std::move(done), std::move(response));
}

void Operations::Test(const v1::TestSemaphoreRequest& request,
                      Done<v1::TestSemaphoreResponse> done) {
  absl::StatusOr<std::string> name = ToTestName(request);
  if (!name.ok()) return Answer(std::move(done), name.status());
  v1::TestSemaphoreResponse response;
  *response.mutable_state() = ToSemaphoreState(core_->Test(*name));
  Answer(std::move(done), std::move(response));
}

WaiterId Operations::WaitClear(const v1::WaitSemaphoreClearRequest& request,
                               const CallInfo& call,
                               Done<v1::WaitSemaphoreClearResponse> done) {
  absl::StatusOr<WaitClearArgs> args =
      ToWaitClearArgs(request, call.deadline);
  if (!args.ok()) {
    Answer(std::move(done), args.status());
    return 0;
  }
  absl::StatusOr<SessionId> session = SessionOf(call, request.session_secret());
  if (!session.ok()) {
    Answer(std::move(done), session.status());
    return 0;
  }
  args->seq = call.seq;
  return core_->WaitClear(
      *session, *std::move(args),
      [done = std::move(done)](absl::StatusOr<WaitClearOutcome> outcome) mutable {
        if (!outcome.ok()) return std::move(done)(outcome.status());
        std::move(done)(ToWaitSemaphoreClearResponse(*outcome));
      });
}

void Operations::Cancel(WaiterId waiter, StatusDone done) {
  // The engine answers the waiter's own completion (once its removal is durable).
  core_->Cancel(waiter);
  if (done) AfterAnswers([done = std::move(done)]() mutable { std::move(done)(absl::OkStatus()); });
}

void Operations::AfterAnswers(absl::AnyInvocable<void()> fn) {
  if (!core_->durable()) return fn();
  core_->WhenDurable(std::move(fn));
}

void Operations::Ping(const v1::PingRequest& /*request*/, Done<v1::PingResponse> done) {
  Answer(std::move(done), v1::PingResponse());
}

absl::Status Operations::AttachStream(SessionId session,
                                      std::shared_ptr<engine::SessionObserver> observer) {
  return core_->SetObserver(session, std::move(observer));
}

void Operations::Acknowledge(SessionId session, absl::Span<const uint64_t> seqs) {
  if (!seqs.empty()) core_->Acknowledge(session, seqs);
}

void Operations::StreamEnded(SessionId session) {
  core_->CloseSession(session, engine::SessionEndReason::kStreamEnded).IgnoreError();
}

}  // namespace semaphored::server
