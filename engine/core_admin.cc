// The Core's administrative operations, gauges and invariant checks.

#include <algorithm>
#include <limits>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "engine/core.h"
#include "engine/core_internal.h"

namespace semaphored::engine {

using internal::FormatSessionId;
using internal::LazyNow;
using internal::QuoteName;

std::vector<SemaphoreSnapshot> Core::ListSemaphores(absl::string_view prefix,
                                                    absl::string_view after,
                                                    int limit) const {
  std::vector<SemaphoreSnapshot> out;
  absl::MutexLock lock(&mu_);
  // Start at the first name that is >= prefix and > after.
  auto it = after < prefix ? semaphores_.lower_bound(prefix) : semaphores_.upper_bound(after);
  for (; it != semaphores_.end() && static_cast<int>(out.size()) < limit; ++it) {
    if (!absl::StartsWith(it->first, prefix)) break;
    out.push_back(Snapshot(*it->second, /*with_waiters=*/true, kAllHolders));
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
                                  s.waiting.size, {}});
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
                       s->waiting.size, {}};
  for (const auto& [sem, slot] : s->held) snap.held_names.push_back(sem->name);
  std::sort(snap.held_names.begin(), snap.held_names.end());
  return snap;
}

absl::StatusOr<int32_t> Core::EndSession(SessionId id, absl::string_view reason) {
  Locked locked(this);
  Deferred& deferred = locked.deferred();
  Session* s = FindSession(id);
  if (s == nullptr) {
    return absl::NotFoundError(absl::StrCat("no live session has id ", FormatSessionId(id)));
  }
  if (KeptForRestart()) {
    return Restarting(absl::StrCat("session ", FormatSessionId(id), " was not ended"));
  }
  absl::Status why = absl::UnauthenticatedError(
      absl::StrCat("session ", FormatSessionId(id), " was ended by an administrator: ",
                   reason, "; open a new session"));
  return EndSessionLocked(s, std::move(why), SessionEndReason::kAdmin, deferred);
}

absl::StatusOr<std::vector<HolderSnapshot>> Core::ForceClear(absl::string_view name,
                                                             absl::string_view reason) {
  Locked locked(this);
  Deferred& deferred = locked.deferred();
  if (KeptForRestart()) {
    return Restarting(absl::StrCat("semaphore ", QuoteName(name), " was not force-cleared"));
  }
  Semaphore* sem = FindSemaphore(name);
  if (sem == nullptr || sem->holders.empty()) {
    return absl::NotFoundError(absl::StrCat("semaphore ", QuoteName(name),
                                            " is not set; there is nothing to force-clear"));
  }
  LazyNow now(clock_);
  std::vector<HolderSnapshot> revoked = Snapshot(*sem, false, kAllHolders).holders;
  const std::string why = absl::StrCat("force-cleared by an administrator: ", reason);
  while (!sem->holders.empty()) {
    const int32_t slot = sem->first;
    Session* session = sem->holders[slot].session;
    const uint64_t token = sem->holders[slot].fencing_token;
    ReleaseLocked(sem, slot, now);
    EraseHeld(session, sem);
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
  Locked locked(this);
  Deferred& deferred = locked.deferred();
  DrainResult result;
  if (draining_) return result;
  draining_ = true;  // from here on nothing is recorded: the store keeps what it has
  const bool keep = store_ != nullptr;
  const absl::Status why =
      keep ? absl::UnavailableError(
                 "server is restarting: the session, its holds and this wait's place "
                 "are kept; retry the same request once it is back")
           : absl::UnavailableError("server is shutting down");
  result.woken_waiters = static_cast<int32_t>(waiters_.size());
  // Wake every waiter first, so that no release below grants a waiter. Collected
  // first: calling waiters_.begin() after each erase would rescan the emptied slots.
  std::vector<Waiter*> all;
  all.reserve(waiters_.size());
  for (const auto& [id, w] : waiters_) all.push_back(w.get());
  for (Waiter* w : all) Answer(RemoveWaiter(w), why, deferred);
  if (keep) return result;
  while (!sessions_.empty()) {
    EndSessionLocked(sessions_.begin()->second.get(), why, SessionEndReason::kDrain, deferred);
    ++result.ended_sessions;
  }
  // Sessions that ended earlier and are still being released in slices: at once now,
  // so that nothing is held when Drain returns.
  LazyNow now(clock_);
  for (; !ending_.empty(); ending_.pop_front()) {
    ReleaseRecords(ending_.front().get(), std::numeric_limits<uint64_t>::max(), now,
                   deferred);
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
                    static_cast<int64_t>(waiters_.size()),
                    static_cast<int64_t>(peers_.size()),
                    static_cast<int64_t>(ending_.size())};
}

uint64_t Core::WorkDone() const {
  absl::MutexLock lock(&mu_);
  return work_;
}

absl::Status Core::CheckInvariants() const {
  absl::MutexLock lock(&mu_);
  auto fail = [](auto&&... parts) {
    return absl::InternalError(absl::StrCat("invariant violated: ", parts...));
  };
  // Ended sessions still being released: out of the live indexes, marked ended.
  absl::flat_hash_set<const Session*> ending;
  for (const auto& s : ending_) {
    if (!s->ended) return fail("ending session not marked ended");
    if (sessions_.contains(s->id)) return fail("ending session still live");
    if (by_secret_.contains(s->secret)) return fail("ending session's secret accepted");
    if (!ending.insert(s.get()).second) return fail("ending session listed twice");
  }
  int64_t holders = 0;
  size_t queued = 0;
  for (const auto& [key, sem] : semaphores_) {
    if (key != sem->name) return fail("index key differs from name ", sem->name);
    if (sem->unused()) return fail("unused semaphore kept: ", sem->name);
    int32_t sum = 0;
    for (size_t i = 0; i < sem->holders.size(); ++i) {
      const Semaphore::Holder& h = sem->holders[i];
      if (h.permits < 1) return fail("holder with no permits on ", sem->name);
      sum += h.permits;
      if (HolderIndex(*sem, *h.session) != static_cast<int32_t>(i)) {
        return fail("holder index broken: ", sem->name);
      }
      if (FindSession(h.session->id) != h.session && !ending.contains(h.session)) {
        return fail("dead holder on ", sem->name);
      }
    }
    // The grant-order chain visits every record once, tokens increasing.
    size_t chained = 0;
    int32_t prev = -1;
    for (int32_t i = sem->first; i >= 0; prev = i, i = sem->holders[i].next) {
      if (static_cast<size_t>(i) >= sem->holders.size() || ++chained > sem->holders.size()) {
        return fail("holder chain broken on ", sem->name);
      }
      if (sem->holders[i].prev != prev) return fail("holder chain back link on ", sem->name);
      if (prev >= 0 && sem->holders[prev].fencing_token >= sem->holders[i].fencing_token) {
        return fail("holders out of grant order on ", sem->name);
      }
    }
    if (chained != sem->holders.size() || sem->last != prev) {
      return fail("holder chain incomplete on ", sem->name);
    }
    if (sum != sem->held) return fail("held count wrong on ", sem->name);
    if (sem->held > sem->limit) return fail("more permits held than the limit on ", sem->name);
    holders += static_cast<int64_t>(sem->holders.size());
    for (const Semaphore::Queue* q : {&sem->set_queue, &sem->clear_queue}) {
      int32_t n = 0;
      for (const Waiter* w = q->head; w != nullptr; w = Semaphore::Queue::Next(w), ++n) {
        if (w->sem != sem.get()) return fail("waiter on the wrong queue: ", sem->name);
        if (w->is_set != (q == &sem->set_queue)) return fail("waiter kind wrong: ", sem->name);
        if (!waiters_.contains(w->id)) return fail("waiter not indexed: ", sem->name);
        if (FindSession(w->session->id) != w->session && !ending.contains(w->session)) {
          return fail("waiter of a dead session on ", sem->name);
        }
        if (w->is_set && HolderIndex(*sem, *w->session) >= 0) {
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
  if (waiter_deadlines_.size() > waiters_.size()) return fail("stray waiter deadline");
  // Each session's own indexes: what it holds, its waiters, its set requests by
  // semaphore; together they account for every holder and waiter exactly once.
  int64_t session_holds = 0;
  size_t session_waiters = 0;
  absl::flat_hash_map<std::string, int64_t> per_peer;
  std::vector<const Session*> all_sessions;
  all_sessions.reserve(sessions_.size() + ending_.size());
  for (const auto& [id, s] : sessions_) {
    if (by_secret_.find(s->secret) == by_secret_.end()) return fail("secret index broken");
    if (s->ended || s->release_cursor) return fail("live session marked ended");
    if (options_.max_sessions_per_peer > 0 || options_.session_rate_per_peer > 0) {
      ++per_peer[s->peer];
    }
    all_sessions.push_back(s.get());
  }
  for (const auto& s : ending_) all_sessions.push_back(s.get());
  for (const Session* s : all_sessions) {
    for (const auto& [sem, slot] : s->held) {
      if (slot < 0 || static_cast<size_t>(slot) >= sem->holders.size() ||
          sem->holders[slot].session != s) {
        return fail("session holds what it does not");
      }
    }
    session_holds += static_cast<int64_t>(s->held.size());
    int32_t n = 0;
    int32_t sets = 0;
    int32_t clear_orphans = 0;
    for (const Waiter* w = s->waiting.head; w != nullptr;
         w = WaiterList<&Waiter::in_session>::Next(w), ++n) {
      if (w->session != s) return fail("waiter on the wrong session's list");
      auto it = waiters_.find(w->id);
      if (it == waiters_.end() || it->second.get() != w) return fail("session waiter lost");
      if (w->is_set) ++sets;
      if (!w->is_set && w->orphan && w->seq == 0) ++clear_orphans;
      if (w->seq != 0) {
        auto by_seq = s->seq_waiters.find(w->seq);
        if (by_seq == s->seq_waiters.end() || by_seq->second != w) {
          return fail("sequenced waiter not indexed by its seq on ", w->sem->name);
        }
        if (w->seq > s->last_seq) return fail("waiter seq above its session's last seq");
        if (s->outcomes.contains(w->seq)) return fail("waiting command has an outcome");
      }
      if (!w->orphan && (w->is_set ? !w->set_done : !w->clear_done)) {
        return fail("claimed waiter without a callback on ", w->sem->name);
      }
    }
    for (const auto& [sem, list] : s->clear_orphans) {
      if (list.size == 0) return fail("empty clear-orphans entry kept");
      for (const Waiter* w = list.head; w != nullptr;
           w = WaiterList<&Waiter::same>::Next(w)) {
        if (w->session != s || w->sem != sem || w->is_set || !w->orphan || w->seq != 0) {
          return fail("clear-orphans index broken on ", sem->name);
        }
        --clear_orphans;
      }
    }
    if (clear_orphans != 0) return fail("orphaned wait-for-clear requests not indexed");
    if (n != s->waiting.size) return fail("session waiter count wrong");
    if (s->seq_waiters.size() > static_cast<size_t>(n)) return fail("seq index has strays");
    if (!s->outcomes.empty() && s->outcomes.rbegin()->first > s->last_seq) {
      return fail("outcome seq above its session's last seq");
    }
    session_waiters += static_cast<size_t>(n);
    int32_t indexed = 0;
    for (const auto& [sem, list] : s->set_waiting) {
      if (list.size == 0) return fail("empty set-waiting entry kept");
      int32_t m = 0;
      for (const Waiter* w = list.head; w != nullptr;
           w = WaiterList<&Waiter::same>::Next(w), ++m) {
        if (w->session != s || w->sem != sem || !w->is_set) {
          return fail("set-waiting index broken on ", sem->name);
        }
      }
      if (m != list.size) return fail("set-waiting count wrong on ", sem->name);
      indexed += m;
    }
    if (indexed != sets) return fail("set requests missing from the by-semaphore index");
    if (s->release_cursor && s->waiting.size > 0) {
      return fail("ended session releasing holds before its waiters");
    }
  }
  if (session_holds != held_pairs_) return fail("sessions' held entries have strays");
  if (session_waiters != waiters_.size()) return fail("sessions' waiter lists have strays");
  if (by_secret_.size() != sessions_.size()) return fail("secret index has strays");
  // Per-peer accounting: live counts match; peers without sessions are idle entries.
  size_t idle = 0;
  for (const auto& [peer, state] : peers_) {
    auto it = per_peer.find(peer);
    const int64_t live = it == per_peer.end() ? 0 : it->second;
    if (state.sessions != live) return fail("session count wrong for peer ", peer);
    if ((live == 0) != (state.forget_at != absl::InfiniteFuture())) {
      return fail("idle state wrong for peer ", peer);
    }
    if (live == 0) {
      if (!idle_peers_.contains({state.forget_at, peer})) {
        return fail("idle peer lost: ", peer);
      }
      ++idle;
    }
  }
  for (const auto& [peer, live] : per_peer) {
    if (!peers_.contains(peer)) return fail("peer not counted: ", peer);
  }
  if (idle != idle_peers_.size()) return fail("idle peer index has strays");
  return absl::OkStatus();
}

}  // namespace semaphored::engine
