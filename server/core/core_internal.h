#ifndef SEMAPHORED_SERVER_CORE_CORE_INTERNAL_H_
#define SEMAPHORED_SERVER_CORE_CORE_INTERNAL_H_

// The Core's private records, shared by core.cc and core_admin.cc only.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/functional/any_invocable.h"
#include "server/core/core.h"

namespace semaphored::internal {

struct Core::Session {
  SessionId id = 0;
  std::string secret;
  std::string client_name;
  std::string peer;
  absl::Duration ttl;
  absl::Time create_time;
  absl::Time expire_time;
  std::shared_ptr<SessionObserver> observer;
  absl::flat_hash_set<Semaphore*> held;
  absl::flat_hash_set<Waiter*> waiting;
};

struct Core::Waiter {
  WaiterId id = 0;
  bool is_set = true;  // a set request; else a wait-for-clear request
  Session* session = nullptr;
  Semaphore* sem = nullptr;
  int32_t permits = 0;
  absl::Time deadline;
  absl::Time enqueue_time;
  Waiter* prev = nullptr;
  Waiter* next = nullptr;
  SetCallback set_done;
  WaitClearCallback clear_done;
};

// A doubly linked FIFO of waiters, intrusive so that a semaphore costs two pointers
// per queue and removal from the middle (cancel, timeout) is O(1).
struct WaiterQueue {
  Core::Waiter* head = nullptr;
  Core::Waiter* tail = nullptr;
  int32_t size = 0;

  void PushBack(Core::Waiter* w) {
    w->prev = tail;
    w->next = nullptr;
    (tail ? tail->next : head) = w;
    tail = w;
    ++size;
  }
  void Remove(Core::Waiter* w) {
    (w->prev ? w->prev->next : head) = w->next;
    (w->next ? w->next->prev : tail) = w->prev;
    w->prev = w->next = nullptr;
    --size;
  }
};

struct Core::Semaphore {
  struct Holder {
    Session* session;
    int32_t permits;
    uint64_t fencing_token;
    absl::Time grant_time;
  };

  std::string name;
  int32_t limit = 1;
  int32_t held = 0;  // permits held, all holders together
  absl::InlinedVector<Holder, 1> holders;  // in grant order
  WaiterQueue set_queue;
  WaiterQueue clear_queue;

  bool unused() const {
    return holders.empty() && set_queue.size == 0 && clear_queue.size == 0;
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

 private:
  std::vector<absl::AnyInvocable<void()>> fns_;
};

}  // namespace semaphored::internal

#endif  // SEMAPHORED_SERVER_CORE_CORE_INTERNAL_H_
