// The Core's administrative operations, gauges and invariant checks.

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "server/core/core.h"
#include "server/core/core_internal.h"

namespace semaphored::internal {

std::vector<SemaphoreSnapshot> Core::ListSemaphores(absl::string_view prefix,
                                                    absl::string_view after,
                                                    int limit) const {
  std::vector<SemaphoreSnapshot> out;
  absl::MutexLock lock(&mu_);
  // Start at the first name that is >= prefix and > after.
  auto it = after < prefix ? semaphores_.lower_bound(prefix) : semaphores_.upper_bound(after);
  for (; it != semaphores_.end() && static_cast<int>(out.size()) < limit; ++it) {
    if (!absl::StartsWith(it->first, prefix)) break;
    out.push_back(Snapshot(*it->second, /*with_waiters=*/true));
  }
  return out;
}

std::vector<SessionSnapshot> Core::ListSessions(SessionId after, int limit) const {
  std::vector<SessionSnapshot> out;
  absl::MutexLock lock(&mu_);
  for (auto it = sessions_.upper_bound(after);
       it != sessions_.end() && static_cast<int>(out.size()) < limit; ++it) {
    const Session& s = *it->second;
    out.push_back(SessionSnapshot{s.id, s.client_name, s.peer, s.create_time,
                                  s.expire_time, static_cast<int32_t>(s.held.size()),
                                  static_cast<int32_t>(s.waiting.size()), {}});
  }
  return out;
}

absl::StatusOr<SessionSnapshot> Core::GetSession(SessionId id) const {
  absl::MutexLock lock(&mu_);
  const Session* s = FindSession(id);
  if (s == nullptr) {
    return absl::NotFoundError(absl::StrCat("no live session has id ", FormatSessionId(id)));
  }
  SessionSnapshot snap{s->id, s->client_name, s->peer, s->create_time, s->expire_time,
                       static_cast<int32_t>(s->held.size()),
                       static_cast<int32_t>(s->waiting.size()), {}};
  for (const Semaphore* sem : s->held) snap.held_names.push_back(sem->name);
  std::sort(snap.held_names.begin(), snap.held_names.end());
  return snap;
}

absl::StatusOr<int32_t> Core::EndSession(SessionId id, absl::string_view reason) {
  Deferred deferred;
  absl::MutexLock lock(&mu_);
  Session* s = FindSession(id);
  if (s == nullptr) {
    return absl::NotFoundError(absl::StrCat("no live session has id ", FormatSessionId(id)));
  }
  absl::Status why = absl::UnauthenticatedError(
      absl::StrCat("session ", FormatSessionId(id), " was ended by an administrator: ",
                   reason, "; open a new session"));
  return EndSessionLocked(s, std::move(why), SessionEndReason::kAdmin, deferred);
}

absl::StatusOr<std::vector<HolderInfo>> Core::ForceClear(absl::string_view name,
                                                         absl::string_view reason) {
  Deferred deferred;
  absl::MutexLock lock(&mu_);
  Semaphore* sem = FindSemaphore(name);
  if (sem == nullptr || sem->holders.empty()) {
    return absl::NotFoundError(absl::StrCat("semaphore ", QuoteName(name),
                                            " is not set; there is nothing to force-clear"));
  }
  LazyNow now(clock_);
  std::vector<HolderInfo> revoked = Snapshot(*sem, false).holders;
  const std::string why = absl::StrCat("force-cleared by an administrator: ", reason);
  while (!sem->holders.empty()) {
    Session* session = sem->holders.front().session;
    const uint64_t token = sem->holders.front().fencing_token;
    ReleaseLocked(sem, 0, now);
    session->held.erase(sem);
    if (session->observer) {
      deferred.Add([observer = session->observer, name = sem->name, token, why] {
        observer->OnRevoked(name, token, why);
      });
    }
  }
  listener_->OnForceClear();
  HandOn(sem, now, deferred);
  return revoked;
}

Core::DrainResult Core::Drain() {
  Deferred deferred;
  absl::MutexLock lock(&mu_);
  DrainResult result;
  draining_ = true;
  const absl::Status why = absl::UnavailableError("server is shutting down");
  result.woken_waiters = static_cast<int32_t>(waiters_.size());
  // Wake every waiter first, so that no release below grants a waiter.
  while (!waiters_.empty()) {
    Answer(RemoveWaiter(waiters_.begin()->second.get()), why, deferred);
  }
  while (!sessions_.empty()) {
    EndSessionLocked(sessions_.begin()->second.get(), why, SessionEndReason::kDrain, deferred);
    ++result.ended_sessions;
  }
  return result;
}

bool Core::draining() const {
  absl::MutexLock lock(&mu_);
  return draining_;
}

CoreCounts Core::Counts() const {
  absl::MutexLock lock(&mu_);
  return CoreCounts{static_cast<int64_t>(sessions_.size()),
                    static_cast<int64_t>(semaphores_.size()), held_pairs_,
                    static_cast<int64_t>(waiters_.size())};
}

absl::Status Core::CheckInvariants() const {
  absl::MutexLock lock(&mu_);
  auto fail = [](auto&&... parts) {
    return absl::InternalError(absl::StrCat("invariant violated: ", parts...));
  };
  int64_t holders = 0;
  size_t queued = 0;
  for (const auto& [key, sem] : semaphores_) {
    if (key != sem->name) return fail("index key differs from name ", sem->name);
    if (sem->unused()) return fail("unused semaphore kept: ", sem->name);
    int32_t sum = 0;
    for (const auto& h : sem->holders) {
      if (h.permits < 1) return fail("holder with no permits on ", sem->name);
      sum += h.permits;
      if (!h.session->held.contains(sem.get())) return fail("holder index broken: ", sem->name);
      if (FindSession(h.session->id) != h.session) return fail("dead holder on ", sem->name);
    }
    if (sum != sem->held) return fail("held count wrong on ", sem->name);
    if (sem->held > sem->limit) return fail("more permits held than the limit on ", sem->name);
    holders += static_cast<int64_t>(sem->holders.size());
    for (const WaiterQueue* q : {&sem->set_queue, &sem->clear_queue}) {
      int32_t n = 0;
      for (const Waiter* w = q->head; w != nullptr; w = w->next, ++n) {
        if (w->sem != sem.get()) return fail("waiter on the wrong queue: ", sem->name);
        if (!waiters_.contains(w->id)) return fail("waiter not indexed: ", sem->name);
        if (w->is_set && HolderIndex(*sem, w->session) >= 0) {
          return fail("a holder waits for its own semaphore: ", sem->name);
        }
      }
      if (n != q->size) return fail("queue size wrong on ", sem->name);
      queued += static_cast<size_t>(n);
    }
    if (const Waiter* head = sem->set_queue.head;
        head != nullptr && sem->limit - sem->held >= head->permits) {
      return fail("grantable head left waiting on ", sem->name);
    }
    if (sem->held == 0 && sem->clear_queue.size > 0) {
      return fail("wait-for-clear left waiting on a clear semaphore ", sem->name);
    }
  }
  if (holders != held_pairs_) return fail("held pair count wrong");
  if (queued != waiters_.size()) return fail("waiter index has strays");
  for (const auto& [id, w] : waiters_) {
    if (w->deadline != absl::InfiniteFuture() &&
        !waiter_deadlines_.contains({w->deadline, id})) {
      return fail("waiter without deadline entry");
    }
  }
  for (const auto& [id, s] : sessions_) {
    if (by_secret_.find(s->secret) == by_secret_.end()) return fail("secret index broken");
    for (const Semaphore* sem : s->held) {
      if (HolderIndex(*sem, s.get()) < 0) return fail("session holds what it does not");
    }
  }
  if (by_secret_.size() != sessions_.size()) return fail("secret index has strays");
  return absl::OkStatus();
}

}  // namespace semaphored::internal
