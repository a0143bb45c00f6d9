#ifndef SEMAPHORED_ENGINE_CORE_H_
#define SEMAPHORED_ENGINE_CORE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/clock.h"
#include "engine/core_listener.h"
#include "engine/core_tracer.h"
#include "engine/session_observer.h"
#include "engine/store.h"
#include "engine/token_source.h"
#include "engine/types.h"

namespace semaphored::engine {

struct CoreOptions {
  absl::Duration default_ttl = absl::Seconds(10);
  absl::Duration min_ttl = absl::Seconds(1);
  absl::Duration max_ttl = absl::Hours(1);
  // Sessions never expire (keepalives not needed): for in-process local semaphores.
  bool sessions_expire = true;
  // Capacity limits: a request beyond one gets RESOURCE_EXHAUSTED naming the limit.
  // The defaults bound the core's memory (see README "Limits and memory").
  int64_t max_sessions = 100'000;
  int64_t max_held_per_session = 100'000;
  int64_t max_waiters_per_semaphore = 10'000;
  int64_t max_semaphores = 1'000'000;      // existing semaphores, in total
  int64_t max_holds = 1'000'000;           // (session, semaphore) holds, in total
  int64_t max_waiters = 1'000'000;         // queued requests, in total
  int64_t max_waiters_per_session = 10'000;
  // Per peer (CreateSession's `peer` string, as given): live sessions, and a token
  // bucket on the core's clock for creating them (`session_burst_per_peer` at once,
  // refilled at `session_rate_per_peer` per second). 0 turns the limit off.
  int64_t max_sessions_per_peer = 1'000;
  double session_rate_per_peer = 100;
  int64_t session_burst_per_peer = 200;
  // How many ended sessions are remembered, so that their late calls get "expired"
  // or "closed" instead of "unknown session".
  int64_t ended_sessions_remembered = 65'536;
  // Report how long each grant was held (CoreListener::OnRelease); costs a clock
  // read per release. Off for in-process local semaphores, which have no metrics.
  bool time_holds = true;
  // Holders listed in the snapshots that answer Test, a set that was not acquired and
  // wait-for-clear (the oldest grants; SemaphoreSnapshot::holder_count counts all), so
  // that such an answer costs at most this much work under the lock. Admin listings
  // and force-clear see every holder.
  int32_t max_listed_holders = 100;
  // Outcomes of sequenced commands kept per session until acknowledged (see "At most
  // once" in Core's comment); past it the oldest is dropped. 0 keeps none. About
  // 130 bytes each plus an error's message: 64 per session at 100,000 sessions is
  // under 1 GB in the worst case (a client that never acknowledges).
  int64_t max_unacked_outcomes_per_session = 64;
  // Where the effects of every operation are committed (see "Durability" below);
  // must outlive the core. nullptr (the default, and always in-process) or a store
  // that is not durable(): nothing is recorded and every answer is given at once, as
  // if committed, at no cost.
  Store* store = nullptr;
  // How long a commit waits for the operations of a hold (Core::HoldBatch) to join
  // its batch, at most.
  absl::Duration max_batch_hold = absl::Milliseconds(1);
  // With a store: whether this server may answer now (a leader whose lease is
  // certainly alive by its own clock; see store/etcd_leader.h). While it returns
  // false nothing is given, not even an answer that waits for no effect: answers stay
  // held back. Empty: always. Called with the core's lock held: it must not call the
  // core.
  std::function<bool()> may_answer;

  // The options of the in-process engine behind local '$' semaphores: sessions never
  // expire (no keepalives), grants are not timed (there are no metrics), and there are
  // no per-peer limits (every session comes from this process). Everything else is
  // as for the server.
  static CoreOptions InProcess();
};

// The engine: the one state machine behind the server's semaphores and the client
// library's local '$' semaphores (CoreOptions::InProcess()): sessions, semaphores with
// FIFO waiter queues, expiry and fencing. Plain C++: it takes time from a Clock, knows
// nothing of gRPC, and does no I/O except through its TokenSource. Names are assumed
// valid (checked at the edges); everything else is checked here.
//
// Deadlines (waits and session TTLs) are enforced by Tick(), which the owner calls at
// NextDeadline() (see Ticker) or, in tests, after moving a FakeClock.
//
// Error codes (messages name the semaphore or session and say what to do):
//   UNAUTHENTICATED      unknown session, or a session that has ended
//   UNAVAILABLE          the core is draining
//   INVALID_ARGUMENT     a bad limit, permits, timeout or TTL: engine/request_checks.h
//   FAILED_PRECONDITION  the request's limit differs from the semaphore's
//   PERMISSION_DENIED    clearing a semaphore another session holds
//   NOT_FOUND            clearing a semaphore that is not set; unknown session id (admin)
//   RESOURCE_EXHAUSTED   a CoreOptions limit: sessions (in total, per peer, creation
//                        rate per peer), semaphores, holds (in total, per session),
//                        waiters (in total, per session, per semaphore); or the
//                        fencing tokens are exhausted (FencingTokensExhausted)
//   CANCELLED            a wait cancelled by Cancel()
//
// Cost: every operation under the lock costs at most O(log n) per holder or waiter it
// adds, removes or answers (plus, for answers that list holders, the length of the
// list); none scans a session's or a semaphore's other records. WorkDone() counts the
// records visited, so that tests can assert this.
//
// Durability (CoreOptions::store set): every mutation appends its effects (see
// engine/store.h), in the engine's order and under the lock, to the open batch; a
// hand-on (a release and the grants it causes) lands in one batch with its cause.
// Every answer the engine gives itself (a waiter's callback, a set answered at once,
// an observer's or the listener's OnSessionEnded, a revocation) is held back until the
// batch holding every effect appended before it was decided has committed; answers
// are released in the order they were decided. The synchronous results (CreateSession,
// Clear, Test, ...) are computed at once; their caller must pass its answer to
// WhenDurable() and give it only when that runs. CommitBatch() does one group commit:
// while a commit runs, new effects go to the next batch. A failed commit stops the
// engine answering: nothing pending or decided later is ever released (callbacks are
// destroyed with the core, uncalled) and the commit-failed hook tells the owner, which
// must exit so that a restart loads the state the store kept. Effects are not recorded
// once the core drains (a shutdown keeps the state on disk), and with a store a
// session always ends at once, never in slices (its end must commit with its
// releases before its answer is given). A restarted owner rebuilds the core from what
// the store loaded with Restore(), before any operation.
//
// At most once: Set, Clear and WaitClear take a per-session sequence number `seq`,
// which the client library gives each command (from 1, increasing) so that it can
// re-send the commands it got no answer for (its stream broke, the server restarted)
// and have each applied at most once, answered with its first answer.
//  - seq 0: not sequenced (tests, unary RPCs, the in-process engine): exactly the
//    behaviour described elsewhere; nothing is kept.
//  - seq above the session's last_seq: a new command. It runs as if unsequenced
//    (except that it never claims an orphan, which only its own seq claims, see
//    below), and last_seq becomes seq. When its final answer is decided (at once; or,
//    for a queued request, when granted, timed out, found clear, cancelled or failed)
//    its *outcome* is kept: acquired (already_held, grant) / not acquired; released
//    permits; clear / not clear; or the error (code and message, argument errors
//    included). With a store the outcome is recorded (CommandOutcome) in the same
//    batch as the effects of what decided it. A request answered because its session
//    ended keeps nothing (the session is gone), and nothing is kept while draining
//    (the command was not applied: a re-send after a restart runs it).
//  - seq at or below last_seq: a re-sent command; nothing is applied again.
//     - its outcome is kept: answered with it, through the same path (callback or
//       return value, after WhenDurable like every answer). A kept "not acquired" or
//       "not clear" is answered with the semaphore's state as Test shows it now.
//     - a request of this session queued by that seq still waits: an orphan (see
//       Restore) is claimed by it, keeping its place (its id is returned, its
//       deadline the earlier of the two); one that still has a callback (the same
//       command sent twice while its first copy waits) is FAILED_PRECONDITION
//       "command SEQ of session ID is still pending".
//     - otherwise FAILED_PRECONDITION "... was already answered and acknowledged (or
//       is older than the last N kept)": the client re-sent what it acknowledged.
//    These answers keep nothing.
// Acknowledge() drops the outcomes the client has read (CommandsAcked). At most
// CoreOptions::max_unacked_outcomes_per_session are kept per session: past it the
// oldest (lowest seq) is dropped as if acknowledged. Outcomes and last_seq go when
// the session ends. A command of an unknown or ended session is answered as unsequenced
// (UNAUTHENTICATED), keeping nothing; so is one while draining.
//
// Thread-safe. Callbacks and observers are always called without the lock held.
class Core {
 public:
  // `clock` and `tokens` must outlive the core.
  Core(internal::Clock* clock, TokenSource* tokens, CoreOptions options = {});
  ~Core();
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;

  // --- Sessions ---

  // `ttl` of zero means the default; a negative one, or one outside
  // [min_ttl, max_ttl] when sessions expire, is INVALID_ARGUMENT. `peer` identifies the caller for the per-peer
  // limits (sessions and creation rate; callers with the same string share them) and
  // is shown by admin listings.
  absl::StatusOr<NewSession> CreateSession(std::string client_name, absl::Duration ttl,
                                           std::string peer = "")
      ABSL_LOCKS_EXCLUDED(mu_);
  // Resolves a session secret to its id. UNAUTHENTICATED when unknown or ended.
  absl::StatusOr<SessionId> Authenticate(absl::string_view secret) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Extends the session's lease by its TTL; returns the new expiry.
  absl::StatusOr<absl::Time> Refresh(SessionId session) ABSL_LOCKS_EXCLUDED(mu_);
  // Ends the session: releases all it holds, fails its waiters with UNAUTHENTICATED
  // "closed", tells its observer. Returns how many semaphores it held. `reason` is
  // kClosed (the client asked) or kStreamEnded (its stream ended without a close).
  // A session with more than kTickWork holds and waiters together is ended at once
  // (its secret refused, its observer and listener told, per-peer counts updated) but
  // its holds and waiters are released by Tick() in slices, so that ending it does not
  // hold the lock for long; meanwhile listings may still show it as a holder. This
  // applies to every way a session ends (EndSession, expiry) except Drain.
  absl::StatusOr<int32_t> CloseSession(SessionId session,
                                       SessionEndReason reason = SessionEndReason::kClosed)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Sets the observer told about the session's end and revocations, replacing any
  // other; nullptr detaches. Fails like Refresh when the session has ended.
  absl::Status SetObserver(SessionId session, std::shared_ptr<SessionObserver> observer)
      ABSL_LOCKS_EXCLUDED(mu_);

  // --- Semaphores ---

  // Sets `args.name` for `session`. Grants at once when permits are free and nobody
  // waits; otherwise a try answers "not acquired" and a wait joins the FIFO queue.
  // `done` gets exactly one answer: acquired; not acquired (try, or deadline passed);
  // or an error (the checks of engine/request_checks.h, made before anything else;
  // CANCELLED, the session ended, draining). Returns the
  // waiter id when the request was queued, else 0 (and `done` has already run). A
  // retry that claims its session's orphaned waiter (see Restore) gets that waiter's
  // id and place instead of queueing.
  WaiterId Set(SessionId session, SetArgs args, SetCallback done)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Clears every permit `session` holds on `name` and hands them on in FIFO order.
  // Returns the number of permits released. `seq` as SetArgs::seq (see "At most
  // once"): a re-sent clear returns its first result and releases nothing.
  absl::StatusOr<int32_t> Clear(SessionId session, absl::string_view name,
                                uint64_t seq = 0) ABSL_LOCKS_EXCLUDED(mu_);
  // The semaphore as it stands (limit 0 when it does not exist). Never blocks on
  // waiters; needs no session.
  SemaphoreSnapshot Test(absl::string_view name) const ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until `args.name` has no permits held, or its wait ends (see WaitLimit).
  // `done` gets exactly one answer, as for Set; the id returned, and an orphan
  // claimed, as for Set.
  WaiterId WaitClear(SessionId session, WaitClearArgs args, WaitClearCallback done)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The client has read the answers of the sequenced commands `seqs` of `session`:
  // their kept outcomes are dropped (CommandsAcked recorded). Seqs with no kept
  // outcome, and unknown or ended sessions, are ignored. Nothing is answered.
  void Acknowledge(SessionId session, absl::Span<const uint64_t> seqs)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Removes a queued waiter; its callback gets `why` (CANCELLED by default). Does
  // nothing when the waiter has already been answered.
  void Cancel(WaiterId waiter, absl::Status why = absl::CancelledError())
      ABSL_LOCKS_EXCLUDED(mu_);

  // --- Time ---

  // Answers waits whose deadline has passed, releases the records of large ended
  // sessions (see CloseSession) and ends sessions whose TTL has run out, in slices:
  // after about kTickWork records (at least one) it returns, so that a mass expiry or
  // a mass release does not hold the lock for long; call again while NextDeadline()
  // has passed (Ticker does).
  void Tick() ABSL_LOCKS_EXCLUDED(mu_);
  static constexpr uint64_t kTickWork = 4096;
  // The earliest pending deadline; the clock's now while ended sessions' records wait
  // to be released; absl::InfiniteFuture() when none.
  absl::Time NextDeadline() const ABSL_LOCKS_EXCLUDED(mu_);
  // Called whenever NextDeadline() may have moved earlier, so that a sleeping ticker
  // can wake up. Called WITH the core's lock held: it must only signal, never call
  // into the core. Set once, before use.
  void SetDeadlineHook(std::function<void()> hook);

  // --- Durability (see the class comment) ---

  // Runs `fn` once every effect appended so far has committed: at once, on this
  // thread, when nothing is pending (always, without a store); else from the thread
  // that completes the commit, after the answers decided before it. Never runs after
  // a failed commit. Never call it with a lock `fn` takes.
  void WhenDurable(absl::AnyInvocable<void()> fn) ABSL_LOCKS_EXCLUDED(mu_);
  // One group commit: when no commit runs and the open batch has effects, takes the
  // batch and commits it to the store outside the lock. The answers it released are
  // then given by GiveAnswers(): on this thread, before it returns, unless an answer
  // hook is set and the next batch already has effects (see SetAnswerHook). Returns true when it committed a batch (call
  // again while it does); false when there was nothing to commit, another commit
  // runs, there is no store, or the store failed (now or before).
  bool CommitBatch() ABSL_LOCKS_EXCLUDED(mu_);
  // Gives the answers released by the commits so far, in the order they were decided,
  // until none is left. One thread at a time (the answer hook's, or CommitBatch's).
  void GiveAnswers() ABSL_LOCKS_EXCLUDED(mu_);
  // Keeps the open batch open while one caller applies operations that belong
  // together (the commands of one stream message: a release and the set that follows
  // it commit in one batch, so the set's answer waits for one commit, not two).
  // CommitBatch() waits until the holds opened before it began have ended (not those
  // opened meanwhile: under load some hold is always open), but never longer than
  // CoreOptions::max_batch_hold. A hold must be short: nothing may wait while one is
  // open. HoldBatch returns the ticket to end it with. No-ops without a store.
  uint64_t HoldBatch() ABSL_LOCKS_EXCLUDED(mu_);
  void EndBatchHold(uint64_t ticket) ABSL_LOCKS_EXCLUDED(mu_);
  // Called, WITH the core's lock held (it must only signal), whenever CommitBatch()
  // has new work: effects arrived in an empty batch while no commit ran, or a commit
  // ended with effects waiting. Set once, before use.
  void SetCommitHook(std::function<void()> hook);
  // With an answer hook, a commit after which the next batch already has effects
  // leaves its answers to another thread, so that the next batch commits while they
  // are given (a pipeline): the hook is called WITH the core's lock held (it must only
  // signal) when such a commit has released answers, and its thread calls
  // GiveAnswers(). Set once, before use (with the commit hook).
  void SetAnswerHook(std::function<void()> hook);
  // Called once, without the lock, from the thread whose commit failed, with the
  // store's error. Set once, before use.
  void SetCommitFailedHook(std::function<void(const absl::Status&)> hook);
  // Whether the core records effects in a durable store (CoreOptions::store).
  bool durable() const { return store_ != nullptr; }
  // Rebuilds the core from `state` (Store::Load's result) when a server restarts on
  // its store. Call once, on a new core, before any operation (else
  // FAILED_PRECONDITION). Records no effect (the state is already stored) and answers
  // nothing. With the clock's `now`:
  //  - every session is alive with its secret, client name, peer (counted for the
  //    per-peer session limit, but not against the creation rate) and TTL; its
  //    expiry is renewed to now + TTL (as ZooKeeper and etcd renew on failover) and
  //    its create time (not stored) reads as now. It has no observer.
  //  - every semaphore has its limit, its holders in grant order with their permits,
  //    fencing tokens and grant times, and its set and wait-for-clear queues in queue
  //    order (waiter id order) with each waiter's permits, deadline and enqueue time.
  //  - waiter ids continue after state.last_waiter; the fencing-token high-water is
  //    state.token_high_water. The owner's TokenSource must hand out tokens above it
  //    (CounterTokenSource(state.token_high_water)): Restore cannot check that.
  // Restored waiters are *orphans*: nobody is waiting for their answer yet. One is
  // claimed by the same request retried by its session (after a restart a client
  // repeats the call the restart broke): a Set of the same name with the same
  // permits, or a WaitClear of the same name, that would wait. The retry does not
  // queue again: its callback is attached to the orphan, which keeps its place, and
  // its id is returned; its deadline becomes the earlier of the stored one and the
  // retry's own wait end. That earlier deadline is not stored: after another
  // restart the stored deadline applies again. A try (no wait) by that session while
  // its orphan waits is answered "not acquired" (or "not clear") and leaves the orphan
  // in place. An orphan granted before its retry simply holds: the retry finds its
  // session holding the name and is answered acquired, already held, with the
  // grant's token. An orphan that times out, or whose session ends, leaves its queue
  // as any waiter does (the removal is recorded); its answer goes nowhere.
  // Each session's last_seq and kept command outcomes are restored, and each waiter's
  // seq: an orphan queued by a sequenced command is claimed only by a re-send of that
  // seq (see "At most once"); one queued by an unsequenced request (seq 0) only by an
  // unsequenced retry, as above. An orphan of a sequenced command that is decided
  // before its re-send keeps its outcome, which answers the re-send.
  // A state that contradicts itself (a holder or waiter of a session or semaphore
  // that is not there, an outcome of a session not there, a duplicate outcome or
  // waiter seq in a session, an outcome or waiter seq above its session's last_seq,
  // a semaphore over its limit or with nothing on it, a duplicate session, secret, name, holder or waiter id, permits or a limit out of range,
  // holders not in token order or above the high-water, a waiter id above
  // last_waiter, a queue whose head could be granted) is DATA_LOSS naming what is
  // wrong, and leaves the core as new. The CoreOptions limits do not refuse restored
  // records (they existed; new requests count them), nor does a TTL outside today's
  // [min_ttl, max_ttl] (the session keeps its own). Nothing is traced (CoreTracer).
  // Costs O(state log state).
  absl::Status Restore(const StoredState& state) ABSL_LOCKS_EXCLUDED(mu_);
  // Batches committed so far (0 without a store).
  uint64_t BatchesCommitted() const ABSL_LOCKS_EXCLUDED(mu_);
  // The state as Store::Load would return it after every effect recorded so far had
  // committed: live sessions, semaphores with holders in grant order and waiters (set
  // and wait-for-clear) in queue order with their seqs, each session's last_seq and
  // kept outcomes (by session, then seq), the largest fencing token granted while
  // recording, the last waiter id. last_session is 0 (ids are random; the core keeps
  // no maximum). For tests that replay the recorded batches. Costs O(state).
  StoredState StateForStore() const ABSL_LOCKS_EXCLUDED(mu_);

  // --- Administration ---

  // Semaphores whose name starts with `prefix` and sorts after `after`, in name
  // order, at most `limit` of them, with their waiters.
  std::vector<SemaphoreSnapshot> ListSemaphores(absl::string_view prefix,
                                                absl::string_view after,
                                                int limit) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Sessions with id greater than `after`, in id order, at most `limit`.
  std::vector<SessionSnapshot> ListSessions(SessionId after, int limit) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // NOT_FOUND when no such live session.
  absl::StatusOr<SessionSnapshot> GetSession(SessionId session) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Ends a live session by id with UNAUTHENTICATED "ended by an administrator: reason".
  absl::StatusOr<int32_t> EndSession(SessionId session, absl::string_view reason)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Revokes every holder of `name` (each observer told `reason`) and hands the
  // permits on. NOT_FOUND when not set. Returns the revoked holders.
  absl::StatusOr<std::vector<HolderSnapshot>> ForceClear(absl::string_view name,
                                                         absl::string_view reason)
      ABSL_LOCKS_EXCLUDED(mu_);
  struct DrainResult {
    int32_t woken_waiters = 0;
    int32_t ended_sessions = 0;
  };
  // From now on new sessions and sets fail with UNAVAILABLE. Without a store: every
  // waiter is answered UNAVAILABLE "server is shutting down"; every session ends with
  // that status (its observer is told), and everything held is released before it
  // returns, however large (drain is rare; it does not work in slices). With a store,
  // the state is kept for the next start instead (nothing is recorded from now on):
  // every waiter is answered UNAVAILABLE "server is restarting ..." (a retry after
  // the restart keeps its place), sessions and holds stay as they are, and
  // ended_sessions is 0; from then on nothing changes until the process ends (the
  // store could not record it): Clear, CloseSession, EndSession and ForceClear are
  // UNAVAILABLE "server is restarting ..." (to be sent again after the restart) and
  // sessions do not expire. Idempotent.
  DrainResult Drain() ABSL_LOCKS_EXCLUDED(mu_);
  bool draining() const ABSL_LOCKS_EXCLUDED(mu_);

  CoreCounts Counts() const ABSL_LOCKS_EXCLUDED(mu_);
  // Set once, before use; must outlive the core.
  void SetListener(CoreListener* listener);

  // Checks every internal invariant (permits within limits, indexes consistent,
  // FIFO heads not grantable); returns the first violation. For tests and fuzzers.
  absl::Status CheckInvariants() const ABSL_LOCKS_EXCLUDED(mu_);
  // How many records (holders, waiters, sessions, semaphores) the core has visited
  // under its lock since it was made: a measure of work that tests compare between
  // sizes to assert that an operation is linear. Never decreases.
  uint64_t WorkDone() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Session;
  struct Semaphore;
  struct Waiter;
  class Deferred;
  class Locked;
  template <auto kLink>
  struct WaiterList;
  // Per-peer session accounting (see CoreOptions).
  struct PeerState {
    int64_t sessions = 0;
    // The creation bucket (see AdmitPeer): full whenever `tat` is not after now.
    absl::Time tat = absl::InfinitePast();
    // With no live session: when its bucket is full again and it may be forgotten
    // (its key in idle_peers_); absl::InfiniteFuture() while it has sessions.
    absl::Time forget_at = absl::InfiniteFuture();
  };

  Session* FindSession(SessionId id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status EndedError(SessionId id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<Session*> LiveSession(SessionId id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Semaphore* FindSemaphore(absl::string_view name) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Semaphore* CreateSemaphore(absl::string_view name, int32_t limit)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybeErase(Semaphore* sem) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  SemaphoreSnapshot Snapshot(const Semaphore& sem, bool with_waiters,
                             int32_t max_holders) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The slot of `session`'s record in `sem.holders`, -1 when it holds none.
  int32_t HolderIndex(const Semaphore& sem, const Session& session) const;
  // Admits a new session for `peer` (per-peer count and creation rate) and counts it.
  absl::Status AdmitPeer(const std::string& peer, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Uncounts an ended session of `peer`.
  void ForgetPeerSession(const std::string& peer, internal::LazyNow& now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops idle peers whose creation bucket is full again by `now`.
  void ExpireIdlePeers(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // RESOURCE_EXHAUSTED when one more waiter for `session` on `sem` passes a limit.
  absl::Status CheckWaiterLimits(const Session& session, const Semaphore& sem) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Runs a set request; nullopt when it was queued, or claimed an orphan (and `done`
  // moved into that waiter, whose id is put in `queued`).
  std::optional<absl::StatusOr<SetOutcome>> SetLocked(SessionId session_id,
                                                      const SetArgs& args,
                                                      SetCallback& done, WaiterId& queued)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CheckHeldLimit(const Session& session, const Semaphore& sem) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records (traces, emits WaiterQueued) and links a new waiter.
  void Enqueue(std::unique_ptr<Waiter> w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Links a waiter into its queue, its session's lists, the deadlines and the index
  // by id, recording nothing (Enqueue, and Restore for stored waiters).
  void LinkWaiter(std::unique_ptr<Waiter> w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RememberEnded(SessionId id, const std::string& secret, const absl::Status& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fails (granting nothing) only when the fencing tokens are exhausted.
  absl::StatusOr<GrantInfo> GrantLocked(Semaphore* sem, Session* session, int32_t permits,
                                        absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Releases the grant in `slot` of sem->holders; the caller erases it from its
  // session's `held`.
  int32_t ReleaseLocked(Semaphore* sem, int32_t slot, internal::LazyNow& now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Grants queued requests from the head while permits suffice, then answers
  // wait-for-clear waiters if nothing is held, then erases the semaphore if unused.
  void HandOn(Semaphore* sem, internal::LazyNow& now, Deferred& deferred)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Unlinks and destroys a waiter; returns its callbacks' owner for answering.
  std::unique_ptr<Waiter> RemoveWaiter(Waiter* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Answer(std::unique_ptr<Waiter> w, absl::Status error, Deferred& deferred)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int32_t EndSessionLocked(Session* session, absl::Status why, SessionEndReason reason,
                           Deferred& deferred) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Answers the waiters of `session` and releases its holds (handing each semaphore
  // on) until WorkDone() reaches `stop_at`, at least one record. Returns true when
  // nothing is left.
  bool ReleaseRecords(Session* session, uint64_t stop_at, internal::LazyNow& now,
                      Deferred& deferred) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Erases `sem` from `session->held`, stepping an ended session's release cursor.
  void EraseHeld(Session* session, Semaphore* sem) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ScheduleExpiry(Session* session) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- At most once (core_seq.cc) ---
  // The answer to a re-sent command (seq <= last_seq) that has no kept outcome and no
  // waiter: FAILED_PRECONDITION.
  absl::Status AlreadyAnswered(const Session& session, uint64_t seq) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status StillPending(const Session& session, uint64_t seq) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A re-send whose seq was another kind of command (`what` it claims to be).
  absl::Status NotThisCommand(const Session& session, uint64_t seq,
                              absl::string_view what) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether outcomes of `session` are kept now (not draining, session not ending).
  bool Sequencing(const Session& session) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Keeps `outcome` (its session and seq set) for `session`, records it, and drops
  // the oldest past the bound. Does nothing unless Sequencing(session).
  void KeepOutcome(Session* session, CommandOutcome outcome)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Keeps the outcome of a queued sequenced request answered with `answer`.
  void KeepSetOutcome(const Waiter& w, const absl::StatusOr<SetOutcome>& answer)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void KeepClearOutcome(const Waiter& w, const absl::StatusOr<WaitClearOutcome>& answer)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The first answer of a kept set or wait-for-clear outcome, a "not" answer showing
  // the semaphore `name` as it is now.
  absl::StatusOr<SetOutcome> SetAnswerOf(const CommandOutcome& kept,
                                         absl::string_view name) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<WaitClearOutcome> WaitClearAnswerOf(const CommandOutcome& kept,
                                                     absl::string_view name) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A sequenced set request (args.seq > 0) of a live session, as SetLocked.
  std::optional<absl::StatusOr<SetOutcome>> SequencedSetLocked(
      Session* session, const SetArgs& args, const absl::Status& bad_args,
      SetCallback& done, WaiterId& queued) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs a clear by a live session.
  absl::StatusOr<int32_t> ClearLocked(Session* session, absl::string_view name,
                                      Deferred& deferred) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- Restore and orphans (core_restore.cc) ---
  // Whether anything has happened to this core that Restore would contradict.
  bool Pristine() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The first orphaned set request of `session` on `sem` asking for `permits`
  // (through session.set_waiting: no scan), or nullptr.
  Waiter* FindSetOrphan(const Session& session, const Semaphore& sem, int32_t permits) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Makes `orphan` an ordinary waiter of its retried request, whose wait ends at
  // `wait_end` (its deadline becomes the earlier of the two); the caller moves the
  // request's callback into it.
  void ClaimOrphan(Waiter* orphan, absl::Time wait_end) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- Durability (core_commit.cc) ---
  // Whether effects are appended: a store is set, the core is not draining and no
  // commit failed (after one, nothing is committed again).
  bool Recording() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return store_ != nullptr && !draining_ && commit_error_.ok();
  }
  // Whether the core drains to restart with what the store keeps: nothing may change
  // from now on (a change could not be recorded, so an answer to it would be undone
  // by the restart).
  bool KeptForRestart() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return store_ != nullptr && draining_;
  }
  // Reports the state just restored to the tracer (CoreTracer::OnRestored...).
  void TraceRestored(CoreTracer& tracer, uint64_t token_high_water) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // What an operation a drain refuses is told: UNAVAILABLE either way; a durable
  // server says it comes back with its state (send the same request again).
  absl::Status DrainRefusal(absl::string_view what) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends `effect` to the open batch. Only while Recording().
  void Emit(Effect effect) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Emits SemaphoreCreated for `sem` before its first holder or waiter is recorded.
  void EmitCreated(Semaphore* sem) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether an answer decided now may be given at once (every effect so far committed).
  bool Durable() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return store_ == nullptr ||
           (effect_seq_ == committed_seq_ && commit_error_.ok() && !committing_ &&
            !answering_ && held_back_.empty() &&
            (!options_.may_answer || options_.may_answer()));
  }
  // Moves the held-back answers whose effects have all committed to `released`, in
  // order.
  void TakeReleased(std::vector<absl::AnyInvocable<void()>>* released)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Holds `fn` back until every effect appended so far has committed.
  void HoldBack(absl::AnyInvocable<void()> fn) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Holds back what `deferred` collected when it may not be given yet (Locked).
  void HoldBack(Deferred& deferred) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  internal::Clock* const clock_;
  const CoreOptions options_;
  std::function<void()> deadline_hook_;
  CoreListener* listener_;

  mutable absl::Mutex mu_;
  // State below is protected by mu_.
  TokenSource* const tokens_ ABSL_PT_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool restored_ ABSL_GUARDED_BY(mu_) = false;  // Restore succeeded
  uint64_t last_waiter_id_ ABSL_GUARDED_BY(mu_) = 0;
  // Live sessions, by id (ordered for listing) and by secret.
  absl::btree_map<SessionId, std::unique_ptr<Session>> sessions_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Session*> by_secret_ ABSL_GUARDED_BY(mu_);
  // Ended sessions: id -> the error their later calls get; secret -> id.
  absl::flat_hash_map<SessionId, absl::Status> ended_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, SessionId> ended_secrets_ ABSL_GUARDED_BY(mu_);
  // Large ended sessions whose holds and waiters Tick() is still releasing, in the
  // order they ended (see CloseSession). Each is kept until its last record is gone.
  std::deque<std::unique_ptr<Session>> ending_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<SessionId, std::string>> ended_order_ ABSL_GUARDED_BY(mu_);
  size_t ended_next_ ABSL_GUARDED_BY(mu_) = 0;
  // Existing semaphores by name (keys view the Semaphore's own name).
  absl::btree_map<absl::string_view, std::unique_ptr<Semaphore>> semaphores_
      ABSL_GUARDED_BY(mu_);
  // The last erased semaphore, kept for the next one created: a name set and cleared
  // over and over then costs no allocation.
  std::unique_ptr<Semaphore> spare_semaphore_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<WaiterId, std::unique_ptr<Waiter>> waiters_ ABSL_GUARDED_BY(mu_);
  absl::btree_set<std::pair<absl::Time, WaiterId>> waiter_deadlines_
      ABSL_GUARDED_BY(mu_);
  absl::btree_set<std::pair<absl::Time, SessionId>> session_expiry_
      ABSL_GUARDED_BY(mu_);
  int64_t held_pairs_ ABSL_GUARDED_BY(mu_) = 0;
  // Peers with live sessions, or whose creation bucket is not yet full again; the
  // latter (no live session) are also in idle_peers_ by when they may be forgotten.
  absl::flat_hash_map<std::string, PeerState> peers_ ABSL_GUARDED_BY(mu_);
  absl::btree_set<std::pair<absl::Time, std::string>> idle_peers_ ABSL_GUARDED_BY(mu_);
  // See WorkDone().
  mutable uint64_t work_ ABSL_GUARDED_BY(mu_) = 0;

  // Durability (see the class comment).
  Store* const store_;
  std::function<void()> commit_hook_;
  std::function<void()> answer_hook_;
  std::function<void(const absl::Status&)> commit_failed_hook_;
  // Effects appended so far; effects of committed batches. An answer decided when
  // effect_seq_ was T (its ticket) may be given once committed_seq_ >= T.
  uint64_t effect_seq_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t committed_seq_ ABSL_GUARDED_BY(mu_) = 0;
  EffectBatch batch_ ABSL_GUARDED_BY(mu_);  // the open batch
  bool committing_ ABSL_GUARDED_BY(mu_) = false;
  // GiveAnswers() is giving answers it took from held_back_.
  bool answering_ ABSL_GUARDED_BY(mu_) = false;
  // Holds not yet ended: opened since the last CommitBatch() began (tickets equal to
  // hold_generation_), and opened before (which that commit waits for).
  int64_t batch_holds_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t older_holds_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t hold_generation_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status commit_error_ ABSL_GUARDED_BY(mu_);  // the first failed commit's error
  uint64_t batches_committed_ ABSL_GUARDED_BY(mu_) = 0;
  // The largest fencing token granted (recorded with the batch that holds it as one
  // TokenHighWater effect at its end), and the largest recorded.
  uint64_t token_high_water_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t recorded_high_water_ ABSL_GUARDED_BY(mu_) = 0;
  // Answers held back, by ticket (non-decreasing: each is taken under the lock).
  std::deque<std::pair<uint64_t, absl::AnyInvocable<void()>>> held_back_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace semaphored::engine

#endif  // SEMAPHORED_ENGINE_CORE_H_
