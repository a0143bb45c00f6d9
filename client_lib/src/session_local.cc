// SessionImpl: local '$' names, served by the process-wide Core.
//
// Calls that change what the session holds run under local_mu_, so that the grants
// map follows the core's order. mu_ is never held while calling the core: the core
// answers on the calling thread when it can, and those answers take mu_.

#include <optional>
#include <utility>

#include "cancel.h"
#include "convert.h"
#include "errors_internal.h"
#include "session_impl.h"
#include "wait.h"

namespace semaphored::internal {

using engine::SetArgs;
using engine::SetOutcome;
using engine::WaitClearOutcome;
using engine::WaiterId;

struct SessionImpl::LocalCall {
  LocalCall(absl::string_view name, bool for_permit) : name(name), for_permit(for_permit) {}
  const absl::string_view name;  // the caller's, alive until the call returns
  const bool for_permit;
  // Filled in before `done` is notified.
  absl::Status status;
  SetAnswer answer;
  // Only for a call that may wait: a try is always answered inside Core::Set, on the
  // calling thread, and so needs no notification.
  std::optional<absl::Notification> done;
  void Answered() {
    if (done) done->Notify();
  }
};

absl::StatusOr<SetAnswer> SessionImpl::LocalSet(absl::string_view name,
                                                const AcquireOptions& options,
                                                bool for_permit) {
  // Closed is checked in OnLocalSetDone, not here: the session's lock is then taken
  // once. (Close() ends the core session, releasing whatever it granted meanwhile.)
  if (options.cancel != nullptr && options.cancel->cancelled()) {
    return absl::CancelledError("the call was cancelled before it started");
  }
  // This function does not return before the core has answered (the core answers
  // every set exactly once, even when the session ends), so the call can live here.
  LocalCall call(name, for_permit);
  SetArgs args;
  args.name = std::string(name);
  args.limit = options.limit;
  args.permits = options.permits;
  args.wait.timeout = options.timeout;  // checked by the core
  // A zero or bad timeout is answered inside Core::Set, on this thread.
  if (options.timeout > absl::ZeroDuration()) call.done.emplace();
  WaiterId waiter;
  {
    absl::MutexLock local(&local_mu_);
    waiter = local_core_->Set(local_session_, std::move(args),
                              [this, &call](absl::StatusOr<SetOutcome> outcome) {
                                OnLocalSetDone(call, std::move(outcome));
                              });
  }
  if (waiter != 0) {
    CancelRegistration registration(
        options.cancel, [core = local_core_, waiter] { core->Cancel(waiter); });
    if (registration.already_cancelled()) local_core_->Cancel(waiter);
    AwaitAnswer(*call.done);  // queued, so not a try: `done` exists
  }
  if (call.done) call.done->WaitForNotification();
  if (!call.status.ok()) return call.status;
  return std::move(call.answer);
}

void SessionImpl::OnLocalSetDone(LocalCall& call, absl::StatusOr<SetOutcome> outcome) {
  absl::MutexLock lock(&mu_);
  if (closing_ || closed_ || !outcome.ok()) {
    // A grant made while closing is released when Close() ends the core session.
    call.status = (closing_ || closed_) ? SessionClosedError(id_) : outcome.status();
    call.Answered();
    return;
  }
  SetAnswer& answer = call.answer;
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

absl::Status SessionImpl::LocalClear(absl::string_view name) {
  // Closed is checked after the core's answer, not before: the session's one lock is
  // then taken once. (Close() releases everything, whatever the core said.)
  absl::MutexLock local(&local_mu_);
  absl::StatusOr<int32_t> released = local_core_->Clear(local_session_, name);
  absl::MutexLock lock(&mu_);
  if (closing_ || closed_) return SessionClosedError(id_);
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

absl::Status SessionImpl::LocalRelease(const std::shared_ptr<GrantState>& grant,
                                       bool only_if_last) {
  absl::MutexLock local(&local_mu_);
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
    if (closing_ || closed_) return absl::OkStatus();  // Close() releases everything
  }
  return local_core_->Clear(local_session_, grant->name).status();
}

absl::StatusOr<bool> SessionImpl::LocalWaitClear(absl::string_view name,
                                                 absl::Duration timeout,
                                                 std::shared_ptr<CancelToken> cancel) {
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status s = ClosedLocked(); !s.ok()) return s;
  }
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
  args.wait.timeout = timeout;  // checked by the core
  const WaiterId waiter = local_core_->WaitClear(
      local_session_, std::move(args),
      [call](absl::StatusOr<WaitClearOutcome> outcome) {
        call->outcome = std::move(outcome);
        call->done.Notify();
      });
  if (waiter != 0) {
    CancelRegistration registration(
        cancel, [core = local_core_, waiter] { core->Cancel(waiter); });
    if (registration.already_cancelled()) local_core_->Cancel(waiter);
    call->done.WaitForNotification();
  }
  call->done.WaitForNotification();
  if (!call->outcome.ok()) {
    absl::MutexLock lock(&mu_);
    return (closing_ || closed_) ? SessionClosedError(id_) : call->outcome.status();
  }
  return call->outcome->clear;
}

}  // namespace semaphored::internal
