#ifndef SEMAPHORED_SERVER_SERVICE_OPERATIONS_H_
#define SEMAPHORED_SERVER_SERVICE_OPERATIONS_H_

// The server's one operation layer: one function per client operation, used both by
// the unary methods of SemaphoreService and by the commands of a session stream. Each
// takes the parsed wire request and what the caller knows (CallInfo), authenticates,
// converts (convert.h), calls the engine and converts the answer back.

#include <memory>
#include <optional>
#include <type_traits>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "engine/core.h"
#include "semaphored/v1/semaphore.pb.h"
#include "server/service/call_observer.h"

namespace semaphored::server {

// What the caller of an operation knows besides the request.
struct CallInfo {
  // The session a session stream has authenticated: the request's session_secret is
  // then not looked at (the stream checks it against its own). nullopt (a unary call):
  // the operation authenticates the request's session_secret.
  std::optional<internal::SessionId> session;
  // The gRPC call's deadline: bounds the waits of Set and WaitClear.
  absl::Time deadline = absl::InfiniteFuture();
  // The gRPC peer string; CreateSession counts sessions per peer host and reports it.
  std::string peer;
  // The command's number in its session (SessionCommand.seq): a Set, Clear or
  // WaitClear with one is applied at most once (see engine::Core). 0: not numbered
  // (unary calls).
  uint64_t seq = 0;
};

// The completion of an operation: the wire response, or the error to answer.
template <typename Response>
using Done = absl::AnyInvocable<void(absl::StatusOr<Response>) &&>;
// The completion of an operation that answers only a status.
using StatusDone = absl::AnyInvocable<void(absl::Status) &&>;

// Every operation delivers its answer through `done`, exactly once, after the engine
// has acted on it and, with a durable store, once the effects it depends on have
// committed: then from the committer's thread. Without a store, at once (on the
// calling thread, before the function returns) except for a Set or WaitClear that
// waits, which the engine answers later from whatever thread grants, times out or
// cancels it. Callers must accept the answer on
// any thread, before or after the function returns, and must not hold a lock `done`
// takes. Validation and authentication errors are answered like the engine's own.
//
// Order of checks: a request's fields are converted first (INVALID_ARGUMENT for a
// bad name or a malformed Duration), then the session is resolved (UNAUTHENTICATED),
// then the engine checks the values (limit, permits, timeout, TTL) and decides.
//
// Thread-safe; holds no state of its own beyond the pointers.
class Operations {
 public:
  // `core` and `observer` must outlive the operations and every answer they
  // deliver. A null observer means CallObserver::Null().
  Operations(engine::Core* core, CallObserver* observer);

  // Resolves a session secret: UNAUTHENTICATED when it is missing, malformed
  // (CheckSecretFormat), unknown or belongs to a session that has ended.
  absl::StatusOr<internal::SessionId> Authenticate(absl::string_view secret) const;

  // Opens a session for the caller's peer host; reports it (OnSessionCreated).
  void CreateSession(const v1::CreateSessionRequest& request, const CallInfo& call,
                     Done<v1::CreateSessionResponse> done);
  void Refresh(const v1::RefreshSessionRequest& request, const CallInfo& call,
               Done<v1::RefreshSessionResponse> done);
  void Close(const v1::CloseSessionRequest& request, const CallInfo& call,
             Done<v1::CloseSessionResponse> done);
  // Returns the engine's waiter id when the set waits in the queue (answered later;
  // Cancel it when the caller goes away), else 0 (answered already).
  engine::WaiterId Set(const v1::SetSemaphoreRequest& request, const CallInfo& call,
                       Done<v1::SetSemaphoreResponse> done);
  void Clear(const v1::ClearSemaphoreRequest& request, const CallInfo& call,
             Done<v1::ClearSemaphoreResponse> done);
  void Test(const v1::TestSemaphoreRequest& request, Done<v1::TestSemaphoreResponse> done);
  // As Set.
  engine::WaiterId WaitClear(const v1::WaitSemaphoreClearRequest& request,
                             const CallInfo& call,
                             Done<v1::WaitSemaphoreClearResponse> done);
  // Cancels a queued waiter (from Set or WaitClear): its own `done` is answered
  // CANCELLED first (unless it was answered already), then this `done` (may be null)
  // with OK.
  void Cancel(engine::WaiterId waiter, StatusDone done);
  void Ping(const v1::PingRequest& request, Done<v1::PingResponse> done);

  // Runs `fn` once every answer decided before this call has been given: at once
  // without a store. For answers a caller gives itself (a stream's own errors), so
  // that they keep their place among the operations' answers.
  void AfterAnswers(absl::AnyInvocable<void()> fn);

  // Operations run between these commit in one batch (engine::Core::HoldBatch):
  // for the commands of one stream message.
  uint64_t HoldBatch() { return core_->HoldBatch(); }
  void EndBatchHold(uint64_t ticket) { core_->EndBatchHold(ticket); }

  // --- A session stream's lifecycle ---

  // The client has read the answers of these numbered commands (acked_seqs).
  void Acknowledge(internal::SessionId session, absl::Span<const uint64_t> seqs);

  // Sends `session`'s events (end, revocations) to `observer`, replacing the one a
  // previous stream attached.
  absl::Status AttachStream(internal::SessionId session,
                            std::shared_ptr<engine::SessionObserver> observer);
  // The stream of `session` ended: the session is closed (SessionEndReason::
  // kStreamEnded); nothing to answer.
  void StreamEnded(internal::SessionId session);

 private:
  // Gives `answer` to `done` once every effect the engine has recorded so far is
  // durable and every answer decided before has been given: at once without a store.
  // Every answer goes through here (or through the engine's own holding back), so that
  // none shows state a crash could undo and a session's answers keep their order.
  template <typename Response>
  void Answer(Done<Response> done,
              absl::StatusOr<std::common_type_t<Response>> answer) const;

  // The session the operation acts for: CallInfo::session, or `secret` authenticated.
  absl::StatusOr<internal::SessionId> SessionOf(const CallInfo& call,
                                                absl::string_view secret) const;

  engine::Core* const core_;
  CallObserver* const observer_;
};

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_SERVICE_OPERATIONS_H_
