// LocalSession: a session's '$' names, served by the process-wide engine Core.
//
// Calls that change what the session holds run under op_mu_, so that the grants map
// follows the core's order. mu_ is never held while calling the core: the core
// answers on the calling thread when it can, and those answers take mu_.

#include "local_session.h"

#include <optional>
#include <utility>

#include "absl/synchronization/notification.h"
#include "cancel_registration.h"
#include "common/session_id.h"
#include "convert.h"
#include "errors_internal.h"
#include "wait.h"

namespace semaphored::internal {

using engine::NewSession;
using engine::SetArgs;
using engine::SetOutcome;
using engine::WaitClearOutcome;
using engine::WaiterId;

// One set waiting for the core's answer.
struct LocalSession::SetCall {
  SetCall(absl::string_view name, bool for_permit) : name(name), for_permit(for_permit) {}
  const absl::string_view name;  // the caller's, alive until the call returns
  const bool for_permit;
  // Filled in before `done` is notified.
  absl::Status status;
  GrantOrState answer;
  // Only for a call that may wait: a try is always answered inside Core::Set, on the
  // calling thread, and so needs no notification.
  std::optional<absl::Notification> done;
  void Answered() {
    if (done) done->Notify();
  }
};

absl::StatusOr<std::shared_ptr<LocalSession>> LocalSession::Open(
    LocalCore local, const std::string& client_name, absl::Duration ttl) {
  // The in-process engine only checks the TTL (sessions never expire), so that a
  // bad TTL gets the engine's message with or without a server.
  absl::StatusOr<NewSession> created = local.core->CreateSession(client_name, ttl);
  if (!created.ok()) return created.status();
  return std::shared_ptr<LocalSession>(new LocalSession(local, created->id));
}

LocalSession::LocalSession(LocalCore local, SessionId session)
    : local_(local),
      session_(session),
      local_id_(FormatSessionId(session)),
      public_id_(local_id_) {}

LocalSession::~LocalSession() = default;

absl::StatusOr<GrantOrState> LocalSession::Set(absl::string_view name,
                                               const AcquireOptions& options,
                                               bool for_permit) {
  // Closed is checked in OnSetDone, not here: the session's lock is then taken once.
  // (FinishClose() ends the core session, releasing whatever it granted meanwhile.)
  if (options.cancel != nullptr && options.cancel->cancelled()) {
    return absl::CancelledError("the call was cancelled before it started");
  }
  // This function does not return before the core has answered (the core answers
  // every set exactly once, even when the session ends), so the call can live here.
  SetCall call(name, for_permit);
  SetArgs args;
  args.name = std::string(name);
  args.limit = options.limit;
  args.permits = options.permits;
  args.wait.timeout = options.timeout;  // checked by the engine
  // A zero or bad timeout is answered inside Core::Set, on this thread.
  if (options.timeout > absl::ZeroDuration()) call.done.emplace();
  WaiterId waiter;
  {
    absl::MutexLock op(&op_mu_);
    waiter = local_.core->Set(session_, std::move(args),
                              [this, &call](absl::StatusOr<SetOutcome> outcome) {
                                OnSetDone(call, std::move(outcome));
                              });
  }
  if (waiter != 0) {
    CancelRegistration registration(
        options.cancel, [core = local_.core, waiter] { core->Cancel(waiter); });
    if (registration.already_cancelled()) local_.core->Cancel(waiter);
    AwaitAnswer(*call.done);  // queued, so not a try: `done` exists
  }
  if (call.done) call.done->WaitForNotification();
  if (!call.status.ok()) return call.status;
  return std::move(call.answer);
}

void LocalSession::OnSetDone(SetCall& call, absl::StatusOr<SetOutcome> outcome) {
  absl::MutexLock lock(&mu_);
  if (ClosingLocked() || !outcome.ok()) {
    // A grant made while closing is released when FinishClose() ends the core session.
    call.status = ClosingLocked() ? SessionClosedError(public_id_) : outcome.status();
    call.Answered();
    return;
  }
  GrantOrState& answer = call.answer;
  answer.acquired = outcome->acquired;
  answer.already_held = outcome->already_held;
  if (!answer.acquired) {
    answer.state = InfoFromSnapshot(outcome->state, call.name);
    call.Answered();
    return;
  }
  auto it = grants_.find(call.name);
  if (it != grants_.end() && outcome->already_held) {
    answer.grant = it->second;
  } else {
    answer.grant = std::make_shared<GrantState>(
        std::string(call.name), outcome->grant.fencing_token, outcome->grant.permits,
        outcome->grant.grant_time, weak_from_this());
    if (!orphan_clears_.empty() && orphan_clears_.erase(call.name) > 0) {
      // Clear(name) ran between the grant and this answer: it cleared this grant.
      answer.grant->EndReleased();
    } else {
      if (it != grants_.end()) it->second->EndReleased();
      grants_[call.name] = answer.grant;
    }
  }
  if (call.for_permit) {
    answer.grant->AddPermit();
  } else {
    answer.grant->Pin();
  }
  call.Answered();
}

absl::Status LocalSession::Clear(absl::string_view name) {
  // Closed is checked after the core's answer, not before: the session's lock is
  // then taken once. (FinishClose() releases everything, whatever the core said.)
  absl::MutexLock op(&op_mu_);
  absl::StatusOr<int32_t> released = local_.core->Clear(session_, name);
  absl::MutexLock lock(&mu_);
  if (ClosingLocked()) return SessionClosedError(public_id_);
  if (!released.ok()) return released.status();
  auto it = grants_.find(name);
  if (it != grants_.end()) {
    it->second->EndReleased();
    grants_.erase(it);
  } else {
    // The core says the session held it, so a grant's answer is on its way.
    orphan_clears_.insert(std::string(name));
  }
  return absl::OkStatus();
}

absl::StatusOr<SemaphoreInfo> LocalSession::Test(absl::string_view name) {
  if (absl::Status s = status(); !s.ok()) return s;
  return InfoFromSnapshot(local_.core->Test(name), name);
}

absl::StatusOr<bool> LocalSession::WaitClear(absl::string_view name,
                                             absl::Duration timeout,
                                             std::shared_ptr<CancelToken> cancel) {
  if (absl::Status s = status(); !s.ok()) return s;
  if (cancel != nullptr && cancel->cancelled()) {
    return absl::CancelledError("the call was cancelled before it started");
  }
  struct WaitCall {
    absl::StatusOr<WaitClearOutcome> outcome;
    absl::Notification done;
  };
  auto call = std::make_shared<WaitCall>();
  engine::WaitClearArgs args;
  args.name = std::string(name);
  args.wait.timeout = timeout;  // checked by the engine
  const WaiterId waiter = local_.core->WaitClear(
      session_, std::move(args),
      [call](absl::StatusOr<WaitClearOutcome> outcome) {
        call->outcome = std::move(outcome);
        call->done.Notify();
      });
  if (waiter != 0) {
    CancelRegistration registration(
        cancel, [core = local_.core, waiter] { core->Cancel(waiter); });
    if (registration.already_cancelled()) local_.core->Cancel(waiter);
    call->done.WaitForNotification();
  }
  call->done.WaitForNotification();
  if (!call->outcome.ok()) {
    absl::MutexLock lock(&mu_);
    return ClosingLocked() ? SessionClosedError(public_id_) : call->outcome.status();
  }
  return call->outcome->clear;
}

absl::Status LocalSession::status() const {
  absl::MutexLock lock(&mu_);
  if (ClosingLocked()) return SessionClosedError(public_id_);
  return absl::OkStatus();
}

void LocalSession::BeginClose() {
  absl::MutexLock lock(&mu_);
  closing_ = true;
}

absl::Status LocalSession::FinishClose() {
  {
    absl::MutexLock lock(&mu_);
    closing_ = true;
    closed_ = true;
    for (auto& [name, grant] : grants_) grant->End(SessionClosedError(public_id_));
    grants_.clear();
  }
  // Waiters of this session are answered (UNAUTHENTICATED, seen as closed).
  local_.core->CloseSession(session_).IgnoreError();
  return absl::OkStatus();
}

void LocalSession::DropPermit(const std::shared_ptr<GrantState>& grant) {
  Release(grant, /*only_if_last=*/true).IgnoreError();  // cannot fail usefully
}

absl::Status LocalSession::ReleaseGrant(const std::shared_ptr<GrantState>& grant) {
  return Release(grant, /*only_if_last=*/false);
}

absl::Status LocalSession::Release(const std::shared_ptr<GrantState>& grant,
                                   bool only_if_last) {
  absl::MutexLock op(&op_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (only_if_last) {
      if (grant->DropPermit() > 0 || grant->pinned() || !grant->held()) {
        return absl::OkStatus();
      }
    } else if (!grant->held()) {
      return grant->status();
    }
    grant->EndReleased();
    auto it = grants_.find(grant->name);
    if (it != grants_.end() && it->second == grant) grants_.erase(it);
    if (ClosingLocked()) return absl::OkStatus();  // FinishClose() releases everything
  }
  return local_.core->Clear(session_, grant->name).status();
}

}  // namespace semaphored::internal
