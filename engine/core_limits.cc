// The Core's capacity limits (see CoreOptions): holds, waiters, and sessions per peer
// with a creation rate per peer. Each refusal is RESOURCE_EXHAUSTED naming the limit,
// its value and the flag that sets it.

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "engine/core.h"
#include "engine/core_internal.h"

namespace semaphored::engine {

using internal::FormatSessionId;
using internal::LazyNow;
using internal::QuoteName;

absl::Status Core::CheckHeldLimit(const Session& session, const Semaphore& sem) const {
  if (static_cast<int64_t>(session.held.size()) >= options_.max_held_per_session) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "session ", FormatSessionId(session.id), " already holds ", session.held.size(),
        " semaphores, the server's limit (max_held_per_session); semaphore ",
        QuoteName(sem.name),
        " was not set; clear some first (or raise "
        "--max_held_per_session)"));
  }
  if (held_pairs_ >= options_.max_holds) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the server already has ", held_pairs_,
        " holds (session and semaphore pairs), its limit (max_holds); semaphore ",
        QuoteName(sem.name), " was not set; try again later (or raise --max_holds)"));
  }
  return absl::OkStatus();
}

absl::Status Core::CheckWaiterLimits(const Session& session, const Semaphore& sem) const {
  const int32_t on_sem = sem.set_queue.size + sem.clear_queue.size;
  if (on_sem >= options_.max_waiters_per_semaphore) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "semaphore ", QuoteName(sem.name), " already has ", on_sem,
        " waiters, the server's limit (max_waiters_per_semaphore); try again later (or "
        "raise --max_waiters_per_semaphore)"));
  }
  if (session.waiting.size >= options_.max_waiters_per_session) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "session ", FormatSessionId(session.id), " already has ", session.waiting.size,
        " queued requests, the server's limit (max_waiters_per_session); the wait for "
        "semaphore ",
        QuoteName(sem.name),
        " was not queued; cancel some first (or raise --max_waiters_per_session)"));
  }
  if (static_cast<int64_t>(waiters_.size()) >= options_.max_waiters) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the server already has ", waiters_.size(),
        " queued requests, its limit (max_waiters); the wait for semaphore ",
        QuoteName(sem.name), " was not queued; try again later (or raise --max_waiters)"));
  }
  return absl::OkStatus();
}

// The creation rate is a token bucket kept as its "theoretical arrival time" (GCRA):
// each session moves `tat` one interval (1/rate) later, starting from now at the
// latest, and is admitted while `tat` stays within burst x interval of now. Exact in
// absl::Duration arithmetic; the bucket is full again once `tat` has passed.
absl::Status Core::AdmitPeer(const std::string& peer, absl::Time now) {
  const bool count = options_.max_sessions_per_peer > 0;
  const bool rate = options_.session_rate_per_peer > 0;
  if (!count && !rate) return absl::OkStatus();
  ExpireIdlePeers(now);
  ++work_;
  // A new entry has no session and a full bucket, so it is always admitted below: no
  // entry is left without a session and outside idle_peers_.
  PeerState& state = peers_[peer];
  if (count && state.sessions >= options_.max_sessions_per_peer) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "peer ", peer, " already has ", state.sessions,
        " sessions, the server's limit per peer (max_sessions_per_peer); close unused "
        "sessions (or raise --max_sessions_per_peer)"));
  }
  if (rate) {
    const absl::Duration interval = absl::Seconds(1) / options_.session_rate_per_peer;
    const absl::Time tat = std::max(state.tat, now) + interval;
    const absl::Duration ahead = tat - now;
    const absl::Duration allowed =
        interval * static_cast<double>(std::max<int64_t>(1, options_.session_burst_per_peer));
    if (ahead > allowed) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "peer ", peer, " is creating sessions faster than the server's limit of ",
          options_.session_rate_per_peer, " per second in bursts of ",
          options_.session_burst_per_peer,
          " (session_rate_per_peer, session_burst_per_peer); retry in ",
          absl::FormatDuration(absl::Ceil(ahead - allowed, absl::Milliseconds(1))),
          " (or raise --session_rate_per_peer / --session_burst_per_peer)"));
    }
    state.tat = tat;
  }
  if (state.forget_at != absl::InfiniteFuture()) {
    idle_peers_.erase({state.forget_at, peer});
    state.forget_at = absl::InfiniteFuture();
  }
  ++state.sessions;
  return absl::OkStatus();
}

void Core::ForgetPeerSession(const std::string& peer, LazyNow& now) {
  auto it = peers_.find(peer);
  if (it == peers_.end()) return;  // no per-peer limit is on
  ++work_;
  PeerState& state = it->second;
  if (--state.sessions > 0) return;
  // Keep an idle peer until its bucket is full again: forgetting it sooner would give
  // a peer that closes its sessions a fresh burst.
  if (state.tat <= now.Get()) {
    peers_.erase(it);
    return;
  }
  state.forget_at = state.tat;
  idle_peers_.emplace(state.forget_at, peer);
}

void Core::ExpireIdlePeers(absl::Time now) {
  while (!idle_peers_.empty() && idle_peers_.begin()->first <= now) {
    ++work_;
    peers_.erase(idle_peers_.begin()->second);
    idle_peers_.erase(idle_peers_.begin());
  }
}

}  // namespace semaphored::engine
