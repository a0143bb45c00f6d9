#ifndef SEMAPHORED_ENGINE_CORE_INTERNAL_H_
#define SEMAPHORED_ENGINE_CORE_INTERNAL_H_

// The Core's private records, shared by core.cc and core_admin.cc only.

#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "engine/core.h"

namespace semaphored::engine {

struct Core::Waiter {
  // Links of one intrusive list (see WaiterList).
  struct Link {
    Waiter* prev = nullptr;
    Waiter* next = nullptr;
  };

  WaiterId id = 0;
  bool is_set = true;  // a set request; else a wait-for-clear request
  Session* session = nullptr;
  Semaphore* sem = nullptr;
  int32_t permits = 0;
  absl::Time deadline;
  absl::Time enqueue_time;
  Link queue;       // in sem's set_queue or clear_queue, FIFO
  Link in_session;  // in session->waiting
  Link same;        // set requests: in session->set_waiting[sem]; restored
                    // wait-for-clear orphans: in session->clear_orphans[sem]
  // The seq of the command that queued it (0: not sequenced); see Core's "At most
  // once". Indexed by session->seq_waiters when not 0.
  uint64_t seq = 0;
  // Restored by Core::Restore and not yet claimed by a retry of its request: it has
  // no callback (its answer goes nowhere) but keeps its place (see Core::Restore).
  bool orphan = false;
  SetCallback set_done;
  WaitClearCallback clear_done;
};

// A doubly linked FIFO of waiters through the Link member `kLink`, intrusive so that a
// list costs two pointers and a count, and removal from the middle (cancel, timeout,
// hand-on) is O(1).
template <auto kLink>
struct Core::WaiterList {
  Waiter* head = nullptr;
  Waiter* tail = nullptr;
  int32_t size = 0;

  void PushBack(Waiter* w) {
    Waiter::Link& l = w->*kLink;
    l.prev = tail;
    l.next = nullptr;
    (tail ? (tail->*kLink).next : head) = w;
    tail = w;
    ++size;
  }
  void Remove(Waiter* w) {
    Waiter::Link& l = w->*kLink;
    (l.prev ? (l.prev->*kLink).next : head) = l.next;
    (l.next ? (l.next->*kLink).prev : tail) = l.prev;
    l.prev = l.next = nullptr;
    --size;
  }
  static Waiter* Next(const Waiter* w) { return (w->*kLink).next; }
};

struct Core::Session {
  SessionId id = 0;
  std::string secret;
  std::string client_name;
  std::string peer;
  absl::Duration ttl;
  absl::Time create_time;
  absl::Time expire_time;
  std::shared_ptr<SessionObserver> observer;
  // What it holds: semaphore -> the slot of its record in that semaphore's holders,
  // so that a release finds its record without a scan.
  absl::flat_hash_map<Semaphore*, int32_t> held;
  // Every queued request of the session (set and wait-for-clear), oldest first.
  WaiterList<&Waiter::in_session> waiting;
  // Its queued set requests by semaphore, so that a grant finds the session's other
  // requests for the same semaphore without looking at its other waiters. No empty
  // entries.
  absl::flat_hash_map<Semaphore*, WaiterList<&Waiter::same>> set_waiting;
  // Its orphaned wait-for-clear requests by semaphore (only restored unsequenced ones
  // not yet claimed: other wait-for-clear requests are not indexed), so that a
  // retried WaitClear finds its orphan without a scan. No empty entries.
  absl::flat_hash_map<Semaphore*, WaiterList<&Waiter::same>> clear_orphans;
  // At most once (see Core's comment): the highest seq seen, the kept outcomes by
  // seq, and its queued sequenced requests by seq.
  uint64_t last_seq = 0;
  absl::btree_map<uint64_t, CommandOutcome> outcomes;
  absl::flat_hash_map<uint64_t, Waiter*> seq_waiters;
  // Set while EndSessionLocked answers its waiters: those answers keep no outcome.
  bool ending = false;

  // A large session that has ended but whose records are still being released in
  // slices (it is in Core::ending_, no longer in sessions_): the other paths that meet
  // its records answer its waiters with `end_status` and grant it nothing.
  bool ended = false;
  absl::Status end_status;
  // Once its waiters are gone: the next entry of `held` to release. Nothing is
  // inserted into an ended session's `held`, so the iterator stays valid; whoever
  // erases an entry steps it past that entry first (Core::EraseHeld).
  std::optional<absl::flat_hash_map<Semaphore*, int32_t>::iterator> release_cursor;
};

// The outcome (see CommandOutcome; session left 0) kept for the sequenced command
// `seq` answered with `answer` (core_seq.cc).
CommandOutcome OutcomeOfSet(uint64_t seq, const absl::StatusOr<SetOutcome>& answer);
CommandOutcome OutcomeOfWaitClear(uint64_t seq,
                                  const absl::StatusOr<WaitClearOutcome>& answer);

// What a core draining to restart (Core::KeptForRestart) answers a change: UNAVAILABLE
// "server is restarting with its state; WHAT: send the same request again ..."
// (core.cc).
absl::Status Restarting(absl::string_view what);

// The installed CoreTracer, or nullptr: one atomic load on the hot path (core.cc).
CoreTracer* Tracer();

// Snapshot's max_holders for the listings that show every holder (admin, force-clear).
inline constexpr int32_t kAllHolders = std::numeric_limits<int32_t>::max();

struct Core::Semaphore {
  // A grant. Records sit in `holders` in no particular order (a release moves the last
  // record into the freed slot, so it costs O(1)); `prev`/`next` (slots, -1 for none)
  // chain them in grant order, which is also fencing-token order.
  struct Holder {
    Session* session;
    int32_t permits;
    int32_t prev;
    int32_t next;
    uint64_t fencing_token;
    absl::Time grant_time;
  };
  using Queue = WaiterList<&Waiter::queue>;

  std::string name;
  int32_t limit = 1;
  int32_t held = 0;  // permits held, all holders together
  absl::InlinedVector<Holder, 1> holders;
  int32_t first = -1;  // slot of the oldest grant, -1 when none
  int32_t last = -1;   // slot of the newest grant
  Queue set_queue;
  Queue clear_queue;
  // Its SemaphoreCreated effect was recorded (with a store: from its first holder or
  // waiter until its SemaphoreErased).
  bool stored = false;

  bool unused() const {
    return holders.empty() && set_queue.size == 0 && clear_queue.size == 0;
  }
  // Appends `h` as the newest grant; returns its slot.
  int32_t AddHolder(Holder h) {
    const auto slot = static_cast<int32_t>(holders.size());
    h.prev = last;
    h.next = -1;
    holders.push_back(h);
    (last >= 0 ? holders[last].next : first) = slot;
    last = slot;
    return slot;
  }
  // Removes the record in `slot`. The newest slot's record moves into `slot`; returns
  // its session (whose `held` entry must be updated to `slot`), or nullptr when no
  // record moved.
  Session* RemoveHolder(int32_t slot) {
    {
      const Holder& h = holders[slot];
      (h.prev >= 0 ? holders[h.prev].next : first) = h.next;
      (h.next >= 0 ? holders[h.next].prev : last) = h.prev;
    }
    const auto end = static_cast<int32_t>(holders.size()) - 1;
    Session* moved = nullptr;
    if (slot != end) {
      Holder& h = holders[slot];
      h = holders[end];
      (h.prev >= 0 ? holders[h.prev].next : first) = slot;
      (h.next >= 0 ? holders[h.next].prev : last) = slot;
      moved = h.session;
    }
    holders.pop_back();
    return moved;
  }
};

// Callbacks collected under the lock and run after it is released. Declare it before
// the absl::MutexLock so that it is destroyed (and runs them) after the unlock.
class Core::Deferred {
 public:
  Deferred() = default;
  Deferred(const Deferred&) = delete;
  Deferred& operator=(const Deferred&) = delete;
  ~Deferred() {
    for (auto& fn : fns_) fn();
  }
  void Add(absl::AnyInvocable<void()> fn) { fns_.push_back(std::move(fn)); }
  bool empty() const { return fns_.empty(); }
  // Takes the callbacks collected so far (Core::HoldBack), in order.
  std::vector<absl::AnyInvocable<void()>> Take() {
    std::vector<absl::AnyInvocable<void()>> taken;
    taken.swap(fns_);
    return taken;
  }

 private:
  std::vector<absl::AnyInvocable<void()>> fns_;
};

// The lock of one operation that answers through a Deferred: on destruction, still
// under the lock, the answers collected are stamped with their ticket and held back
// until it commits (Core::HoldBack; nothing happens without a store); then the lock
// is released, then whatever may be given at once runs.
class ABSL_SCOPED_LOCKABLE Core::Locked {
 public:
  explicit Locked(Core* core) ABSL_EXCLUSIVE_LOCK_FUNCTION(core->mu_)
      ABSL_NO_THREAD_SAFETY_ANALYSIS : core_(core), lock_(&core->mu_) {}
  ~Locked() ABSL_UNLOCK_FUNCTION() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (core_->store_ != nullptr && !deferred_.empty()) core_->HoldBack(deferred_);
  }
  Locked(const Locked&) = delete;
  Locked& operator=(const Locked&) = delete;
  Deferred& deferred() { return deferred_; }

 private:
  Core* const core_;
  // Destroyed after lock_: runs what was not held back, after the unlock.
  Deferred deferred_;
  absl::MutexLock lock_;
};

}  // namespace semaphored::engine

#endif  // SEMAPHORED_ENGINE_CORE_INTERNAL_H_
