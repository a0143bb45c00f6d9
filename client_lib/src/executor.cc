// Executor: one background thread for posted and timed tasks.

#include "executor.h"

#include <utility>

#include "absl/time/clock.h"

namespace semaphored::internal {

Executor::Executor() : state_(std::make_shared<State>()) {}

Executor::~Executor() {
  // Dropped tasks are destroyed outside the lock: they may own things whose
  // destructors call back here.
  absl::btree_map<std::pair<absl::Time, uint64_t>, Task> dropped;
  {
    absl::MutexLock lock(&state_->mu);
    state_->stop = true;
    dropped.swap(state_->tasks);
    state_->when.clear();
    state_->changed.Signal();
  }
  dropped.clear();
  absl::MutexLock lock(&thread_mu_);
  if (!thread_.joinable()) return;
  // A task may drop the last reference to its own executor: the thread cannot join
  // itself, so it is left to exit once the task returns (it owns the state).
  if (thread_.get_id() == std::this_thread::get_id()) {
    thread_.detach();
  } else {
    thread_.join();
  }
}

uint64_t Executor::Schedule(absl::Time when, Task task) {
  uint64_t id;
  {
    absl::MutexLock lock(&state_->mu);
    id = ++state_->last_id;
    state_->tasks.emplace(std::make_pair(when, id), std::move(task));
    state_->when.emplace(id, when);
    state_->changed.Signal();
  }
  absl::MutexLock lock(&thread_mu_);
  if (!thread_.joinable()) thread_ = std::thread(&Executor::Run, state_);
  return id;
}

void Executor::Cancel(uint64_t id) {
  Task dropped;  // destroyed outside the lock, as in the destructor
  absl::MutexLock lock(&state_->mu);
  auto it = state_->when.find(id);
  if (it == state_->when.end()) return;
  auto task = state_->tasks.find(std::make_pair(it->second, id));
  dropped = std::move(task->second);
  state_->tasks.erase(task);
  state_->when.erase(it);
}

void Executor::Run(std::shared_ptr<State> state) {
  while (true) {
    Task task;
    {
      absl::MutexLock lock(&state->mu);
      while (true) {
        if (state->stop) return;
        if (state->tasks.empty()) {
          state->changed.Wait(&state->mu);
          continue;
        }
        auto first = state->tasks.begin();
        absl::Time due = first->first.first;
        if (due > absl::Now()) {
          // Woken early by a new task or stop; the loop looks again.
          state->changed.WaitWithDeadline(&state->mu, due);
          continue;
        }
        task = std::move(first->second);
        state->when.erase(first->first.second);
        state->tasks.erase(first);
        break;
      }
    }
    task();
  }
}

}  // namespace semaphored::internal
