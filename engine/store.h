#ifndef SEMAPHORED_ENGINE_STORE_H_
#define SEMAPHORED_ENGINE_STORE_H_

// The store port: what the engine persists, and what it loads back at start.
//
// The engine keeps its whole state in memory and stays the only place where the
// semantics live. Each operation's *effects* on that state (a session opened, a
// holder added, a waiter queued, ...) are appended, in the engine's order, to a batch;
// a Store commits batches atomically and durably, in order, and loads the state they
// built back at start. An adapter knows how to keep effects (in memory: not at all;
// SQLite; etcd), never what they mean: nothing outside an adapter knows which one is
// used.
//
// Ordering contract: batches are committed in the order Commit is called; a batch
// is all-or-nothing (a crash leaves the state before it or after it); the state Load
// returns is exactly the result of applying every committed batch, in order, to an
// empty state.

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/types.h"

namespace semaphored::engine {

// --- Effects ---

// A session was created. `secret` is the session's credential (kept so that a
// client can present it again after a restart).
struct SessionOpened {
  SessionId session = 0;
  std::string secret;
  std::string client_name;
  std::string peer;  // the client host the session counts against
  absl::Duration ttl;
  // The highest command seq the session has sent (see CommandOutcome). The engine
  // opens sessions with 0; in StoredState::sessions it is the stored value, which
  // CommandOutcome and a sequenced WaiterQueued raise.
  uint64_t last_seq = 0;
};
// A session ended (closed, expired, stream ended, revoked): its holders and waiters
// are removed by their own effects, which come before this one in the same batch. Its
// kept command outcomes go with it (no CommandsAcked is recorded for them).
struct SessionEnded {
  SessionId session = 0;
};
// A semaphore came into existence with `limit` (the first set or wait on it).
struct SemaphoreCreated {
  std::string name;
  int32_t limit = 1;
};
// A semaphore with no holders and no waiters left ceased to exist.
struct SemaphoreErased {
  std::string name;
};
// `session` now holds `permits` of `name` (added to what it held, if anything:
// `permits` is the new total) with `fencing_token`, granted at `since`. A session that
// already held `name` has its record replaced, and it becomes the newest grant (grant
// order is fencing-token order).
struct HolderAdded {
  std::string name;
  SessionId session = 0;
  int32_t permits = 0;
  uint64_t fencing_token = 0;
  absl::Time since;
};
// `session` no longer holds `name`.
struct HolderRemoved {
  std::string name;
  SessionId session = 0;
};
// A set (or wait-for-clear) request joined the queue of `name`. `waiter` orders the
// queue: waiters of one name load back sorted by it (it only grows).
struct WaiterQueued {
  WaiterId waiter = 0;
  std::string name;
  SessionId session = 0;
  bool wait_for_clear = false;  // else a set request
  int32_t permits = 0;          // set requests
  absl::Time deadline;          // InfiniteFuture when it waits without a limit
  absl::Time enqueued;
  // The seq of the command that queued it (0: not sequenced). A seq above the
  // session's last_seq raises it.
  uint64_t seq = 0;
};
// A waiter left its queue (granted, timed out, cancelled, its session ended).
struct WaiterRemoved {
  WaiterId waiter = 0;
};
// Every fencing token handed out is at most `high_water`; the next one is above it.
// A store keeps the largest value it was given (a lower one changes nothing).
struct TokenHighWater {
  uint64_t high_water = 0;
};

// Which command a CommandOutcome answered.
enum class CommandKind : int32_t { kSet = 1, kClear = 2, kWaitClear = 3 };
// The final answer of the sequenced command `seq` of `session`, kept until the client
// acknowledges it, so that a re-sent command is answered as it was first (see Core's
// "At most once"). Recorded in the same batch as the command's own effects (or, for a
// queued request, as the effects that decided it). Raises the session's last_seq.
struct CommandOutcome {
  SessionId session = 0;
  uint64_t seq = 0;
  CommandKind kind = CommandKind::kSet;
  // kOk, or the error the command was answered with (and its message).
  absl::StatusCode code = absl::StatusCode::kOk;
  std::string message;
  bool acquired = false;      // kSet: acquired (else "not acquired")
  bool already_held = false;  // kSet acquired: the session held it before
  GrantInfo grant;            // kSet acquired: token, permits, grant time
  int32_t released = 0;       // kClear: the permits released
  bool clear = false;         // kWaitClear: clear (else "not clear")
};
// The outcomes `seqs` of `session` are dropped: the client read their answers, or
// the session keeps too many (CoreOptions::max_unacked_outcomes_per_session). Each
// names an outcome that is stored.
struct CommandsAcked {
  SessionId session = 0;
  std::vector<uint64_t> seqs;
};

using Effect = std::variant<SessionOpened, SessionEnded, SemaphoreCreated, SemaphoreErased,
                            HolderAdded, HolderRemoved, WaiterQueued, WaiterRemoved,
                            TokenHighWater, CommandOutcome, CommandsAcked>;

// The effects of one or more operations, committed together.
struct EffectBatch {
  std::vector<Effect> effects;
};

// --- Loaded state ---

struct StoredHolder {
  SessionId session = 0;
  int32_t permits = 0;
  uint64_t fencing_token = 0;
  absl::Time since;
};
struct StoredWaiter {
  WaiterId waiter = 0;
  SessionId session = 0;
  bool wait_for_clear = false;
  int32_t permits = 0;
  absl::Time deadline;
  absl::Time enqueued;
  uint64_t seq = 0;  // WaiterQueued::seq
};
struct StoredSemaphore {
  std::string name;
  int32_t limit = 1;
  std::vector<StoredHolder> holders;  // in grant order (oldest first)
  std::vector<StoredWaiter> waiters;  // in queue order (by waiter id)
};
struct StoredState {
  std::vector<SessionOpened> sessions;  // every session not ended, with its last_seq
  std::vector<StoredSemaphore> semaphores;
  // The kept outcomes (not acknowledged) of every session not ended, by session and
  // seq.
  std::vector<CommandOutcome> outcomes;
  uint64_t token_high_water = 0;
  WaiterId last_waiter = 0;  // the highest waiter id ever queued
  SessionId last_session = 0;  // the highest session id ever opened
};

// What a load found, for the startup line and the metrics.
struct LoadSummary {
  int64_t sessions = 0;
  int64_t semaphores = 0;
  int64_t holders = 0;
  int64_t waiters = 0;
  int64_t outcomes = 0;  // kept command outcomes (not acknowledged)
  uint64_t token_high_water = 0;
  absl::Duration took;  // Load and restore together
};
inline LoadSummary Summarize(const StoredState& state) {
  LoadSummary summary;
  summary.sessions = static_cast<int64_t>(state.sessions.size());
  summary.semaphores = static_cast<int64_t>(state.semaphores.size());
  for (const StoredSemaphore& sem : state.semaphores) {
    summary.holders += static_cast<int64_t>(sem.holders.size());
    summary.waiters += static_cast<int64_t>(sem.waiters.size());
  }
  summary.outcomes = static_cast<int64_t>(state.outcomes.size());
  summary.token_high_water = state.token_high_water;
  return summary;
}

// --- The port ---

class Store {
 public:
  virtual ~Store() = default;

  // The state the committed batches built (empty for a new store). Called once,
  // before any Commit. An unreadable, corrupt or newer-format store is an error that
  // says which and where (FAILED_PRECONDITION or DATA_LOSS).
  virtual absl::StatusOr<StoredState> Load() = 0;

  // Commits `batch` atomically and durably (fsync'd when the adapter is durable),
  // after every batch committed before it. On error nothing of the batch is kept,
  // and the store may refuse later commits (the server then stops answering).
  // An effect that contradicts the stored state (a session, semaphore, waiter or
  // outcome created twice; one removed that is not stored, or while a holder or waiter
  // still refers to it; a holder, waiter or outcome naming one that is not stored) is
  // INTERNAL: a bug
  // in the engine, which a store that can check reports rather than keeps.
  virtual absl::Status Commit(const EffectBatch& batch) = 0;

  // For the startup line: "in memory: state is lost on restart", "sqlite DIR", ...
  virtual std::string Describe() const = 0;

  // Whether Commit keeps anything. A store that keeps nothing (MemoryStore) is not
  // given batches at all: the engine answers at once, as without a store.
  virtual bool durable() const = 0;
};

}  // namespace semaphored::engine

#endif  // SEMAPHORED_ENGINE_STORE_H_
