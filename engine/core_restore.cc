// Core::Restore: the core rebuilt from the stored state at start, and the orphaned
// waiters it leaves until their requests are retried.

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/limits.h"
#include "common/names.h"
#include "engine/core.h"
#include "engine/core_internal.h"

namespace semaphored::engine {

using internal::FormatSessionId;
using internal::QuoteName;

namespace {

template <typename... Parts>
absl::Status Contradiction(const Parts&... parts) {
  return absl::DataLossError(absl::StrCat(
      "the stored state contradicts itself: ", parts...,
      "; nothing was restored (the store is damaged: restore it from a backup)"));
}

// Everything Restore relies on, checked before anything is built, so that a bad state
// leaves the core untouched. The engine's own invariants (Core::CheckInvariants) are
// what a state it recorded always satisfies.
absl::Status CheckStoredState(const StoredState& state) {
  absl::flat_hash_map<SessionId, uint64_t> sessions;  // id -> last_seq
  absl::flat_hash_set<absl::string_view> secrets;
  // (session, seq) of every outcome and sequenced waiter: a seq answers one command.
  absl::flat_hash_set<std::pair<SessionId, uint64_t>> seqs;
  sessions.reserve(state.sessions.size());
  secrets.reserve(state.sessions.size());
  for (const SessionOpened& s : state.sessions) {
    const std::string who = absl::StrCat("session ", FormatSessionId(s.session));
    if (s.session == 0) return Contradiction("a session has id 0");
    if (!sessions.emplace(s.session, s.last_seq).second) {
      return Contradiction(who, " is stored twice");
    }
    if (!secrets.insert(s.secret).second) {
      return Contradiction(who, " has the secret of another session");
    }
    if (s.ttl <= absl::ZeroDuration() || s.ttl == absl::InfiniteDuration()) {
      return Contradiction(who, " has TTL ", absl::FormatDuration(s.ttl),
                           ", which is not a positive finite duration");
    }
  }
  absl::flat_hash_set<absl::string_view> names;
  absl::flat_hash_set<WaiterId> waiter_ids;
  absl::flat_hash_set<SessionId> holding;  // the holders of one semaphore
  names.reserve(state.semaphores.size());
  for (const StoredSemaphore& sem : state.semaphores) {
    const std::string what = absl::StrCat("semaphore ", QuoteName(sem.name));
    if (!names.insert(sem.name).second) return Contradiction(what, " is stored twice");
    if (sem.limit < 1 || sem.limit > internal::kMaxLimit) {
      return Contradiction(what, " has limit ", sem.limit, ", outside 1 to ",
                           internal::kMaxLimit);
    }
    if (sem.holders.empty() && sem.waiters.empty()) {
      return Contradiction(what, " has no holders and no waiters (it should be erased)");
    }
    holding.clear();
    int64_t held = 0;
    uint64_t last_token = 0;
    for (const StoredHolder& h : sem.holders) {
      const std::string holder =
          absl::StrCat(what, "'s holder session ", FormatSessionId(h.session));
      if (!sessions.contains(h.session)) return Contradiction(holder, " is not stored");
      if (!holding.insert(h.session).second) return Contradiction(holder, " is stored twice");
      if (h.permits < 1 || h.permits > sem.limit) {
        return Contradiction(holder, " has ", h.permits, " permits, outside 1 to its limit ",
                             sem.limit);
      }
      if (h.fencing_token <= last_token) {
        return Contradiction(holder, " has fencing token ", h.fencing_token,
                             ", not above the token of the grant before it (", last_token,
                             ")");
      }
      if (h.fencing_token > state.token_high_water) {
        return Contradiction(holder, " has fencing token ", h.fencing_token,
                             ", above the stored high-water ", state.token_high_water);
      }
      last_token = h.fencing_token;
      held += h.permits;
    }
    if (held > sem.limit) {
      return Contradiction(what, " has ", held, " permits held, more than its limit ",
                           sem.limit);
    }
    WaiterId last_id = 0;
    bool first_set = true;
    for (const StoredWaiter& w : sem.waiters) {
      const std::string waiter = absl::StrCat(what, "'s waiter ", w.waiter);
      if (w.waiter == 0 || w.waiter <= last_id) {
        return Contradiction(waiter, " is not in waiter id order (after ", last_id, ")");
      }
      if (w.waiter > state.last_waiter) {
        return Contradiction(waiter, " is above the last waiter id ", state.last_waiter);
      }
      if (!waiter_ids.insert(w.waiter).second) {
        return Contradiction("waiter ", w.waiter, " is stored twice");
      }
      auto session = sessions.find(w.session);
      if (session == sessions.end()) {
        return Contradiction(waiter, " is of session ", FormatSessionId(w.session),
                             ", which is not stored");
      }
      if (w.seq > session->second) {
        return Contradiction(waiter, " has command seq ", w.seq, ", above its session's last seq ",
                             session->second);
      }
      if (w.seq != 0 && !seqs.insert({w.session, w.seq}).second) {
        return Contradiction(waiter, " has command seq ", w.seq,
                             ", which another waiter of its session has");
      }
      last_id = w.waiter;
      if (w.wait_for_clear) {
        if (held == 0) return Contradiction(waiter, " waits for a clear semaphore");
        continue;
      }
      if (w.permits < 1 || w.permits > sem.limit) {
        return Contradiction(waiter, " asks for ", w.permits, " permits, outside 1 to its limit ",
                             sem.limit);
      }
      if (holding.contains(w.session)) {
        return Contradiction(waiter, " is of session ", FormatSessionId(w.session),
                             ", which already holds it");
      }
      if (first_set && sem.limit - held >= w.permits) {
        return Contradiction(waiter, " heads the queue but its ", w.permits,
                             " permits are free");
      }
      first_set = false;
    }
  }
  for (const CommandOutcome& o : state.outcomes) {
    const std::string what = absl::StrCat("the outcome of command ", o.seq, " of session ",
                                          FormatSessionId(o.session));
    auto session = sessions.find(o.session);
    if (session == sessions.end()) return Contradiction(what, " is of a session not stored");
    if (o.seq == 0 || o.seq > session->second) {
      return Contradiction(what, " has a seq outside 1 to its session's last seq ",
                           session->second);
    }
    if (!seqs.insert({o.session, o.seq}).second) {
      return Contradiction(what, " is stored twice (or its command also waits)");
    }
    if (o.kind != CommandKind::kSet && o.kind != CommandKind::kClear &&
        o.kind != CommandKind::kWaitClear) {
      return Contradiction(what, " has unknown kind ", static_cast<int32_t>(o.kind));
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool Core::Pristine() const {
  // Every operation that changed anything left one of these behind (a session, even
  // ended, stays in ended_; a grant needs a session; a waiter takes an id).
  return !restored_ && !draining_ && sessions_.empty() && ended_.empty() &&
         ending_.empty() && semaphores_.empty() && waiters_.empty() &&
         last_waiter_id_ == 0 && effect_seq_ == 0 && held_back_.empty() && peers_.empty();
}

absl::Status Core::Restore(const StoredState& state) {
  absl::MutexLock lock(&mu_);
  if (!Pristine()) {
    return absl::FailedPreconditionError(
        "cannot restore the stored state: this core has already been restored or used; "
        "restore only into a new core, before any operation");
  }
  if (absl::Status s = CheckStoredState(state); !s.ok()) return s;

  const absl::Time now = clock_->Now();
  const bool count_peers =
      options_.max_sessions_per_peer > 0 || options_.session_rate_per_peer > 0;
  absl::flat_hash_map<SessionId, Session*> by_id;
  by_id.reserve(state.sessions.size());
  by_secret_.reserve(state.sessions.size());
  for (const SessionOpened& stored : state.sessions) {
    ++work_;
    auto session = std::make_unique<Session>();
    session->id = stored.session;
    session->secret = stored.secret;
    session->client_name = stored.client_name;
    session->peer = stored.peer;
    session->ttl = stored.ttl;
    session->create_time = now;
    session->last_seq = stored.last_seq;
    session->expire_time =
        options_.sessions_expire ? now + stored.ttl : absl::InfiniteFuture();
    // Counted as CreateSession counts (a restored session is no new creation, so the
    // rate bucket is untouched, and no limit refuses it: it already existed).
    if (count_peers) ++peers_[session->peer].sessions;
    Session* raw = session.get();
    by_id.emplace(raw->id, raw);
    by_secret_.emplace(raw->secret, raw);
    sessions_.emplace(raw->id, std::move(session));
    ScheduleExpiry(raw);
  }
  for (const StoredSemaphore& stored : state.semaphores) {
    ++work_;
    Semaphore* sem = CreateSemaphore(stored.name, stored.limit);
    sem->stored = true;  // its SemaphoreCreated is in the store
    sem->holders.reserve(stored.holders.size());
    for (const StoredHolder& h : stored.holders) {
      ++work_;
      Session* session = by_id.at(h.session);
      const int32_t slot = sem->AddHolder(
          Semaphore::Holder{session, h.permits, -1, -1, h.fencing_token, h.since});
      sem->held += h.permits;
      session->held.emplace(sem, slot);
      ++held_pairs_;
    }
    for (const StoredWaiter& stored_waiter : stored.waiters) {
      auto w = std::make_unique<Waiter>();
      w->id = stored_waiter.waiter;
      w->is_set = !stored_waiter.wait_for_clear;
      w->session = by_id.at(stored_waiter.session);
      w->sem = sem;
      w->permits = stored_waiter.permits;
      w->deadline = stored_waiter.deadline;
      w->enqueue_time = stored_waiter.enqueued;
      w->seq = stored_waiter.seq;
      w->orphan = true;
      LinkWaiter(std::move(w));
    }
  }
  for (const CommandOutcome& outcome : state.outcomes) {
    ++work_;
    by_id.at(outcome.session)->outcomes.emplace(outcome.seq, outcome);
  }
  last_waiter_id_ = state.last_waiter;
  token_high_water_ = state.token_high_water;
  recorded_high_water_ = state.token_high_water;
  restored_ = true;
  if (CoreTracer* tracer = Tracer()) TraceRestored(*tracer, state.token_high_water);
  return absl::OkStatus();
}

// What the core itself now holds (not what the store said), so that the trace shows
// the queues in the order the core will serve them.
void Core::TraceRestored(CoreTracer& tracer, uint64_t token_high_water) const {
  tracer.OnRestored(token_high_water);
  for (const auto& [id, session] : sessions_) tracer.OnRestoredSession(id);
  for (const auto& [name, sem] : semaphores_) {
    for (int32_t slot = sem->first; slot >= 0; slot = sem->holders[slot].next) {
      const Semaphore::Holder& h = sem->holders[slot];
      tracer.OnRestoredHolder(sem->name, h.session->id, h.fencing_token, h.permits,
                              sem->limit);
    }
    for (const Waiter* w = sem->set_queue.head; w != nullptr; w = w->queue.next) {
      tracer.OnRestoredWaiter(sem->name, w->session->id, w->id, w->permits);
    }
  }
}

Core::Waiter* Core::FindSetOrphan(const Session& session, const Semaphore& sem,
                                  int32_t permits) const {
  auto it = session.set_waiting.find(&sem);
  if (it == session.set_waiting.end()) return nullptr;
  // The session's own set requests on this one semaphore: one, as a rule.
  for (Waiter* w = it->second.head; w != nullptr;
       w = WaiterList<&Waiter::same>::Next(w)) {
    ++work_;
    if (w->orphan && w->seq == 0 && w->permits == permits) return w;
  }
  return nullptr;
}

void Core::ClaimOrphan(Waiter* orphan, absl::Time wait_end) {
  ++work_;
  if (!orphan->is_set && orphan->seq == 0) {
    auto it = orphan->session->clear_orphans.find(orphan->sem);
    it->second.Remove(orphan);
    if (it->second.size == 0) orphan->session->clear_orphans.erase(it);
  }
  orphan->orphan = false;
  if (wait_end >= orphan->deadline) return;
  // Not recorded: the stored deadline is the request's as first made.
  if (orphan->deadline != absl::InfiniteFuture()) {
    waiter_deadlines_.erase({orphan->deadline, orphan->id});
  }
  orphan->deadline = wait_end;
  waiter_deadlines_.insert({wait_end, orphan->id});
  if (waiter_deadlines_.begin()->second == orphan->id && deadline_hook_) deadline_hook_();
}

}  // namespace semaphored::engine
