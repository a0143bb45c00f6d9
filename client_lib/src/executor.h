#ifndef SEMAPHORED_CLIENT_LIB_SRC_EXECUTOR_H_
#define SEMAPHORED_CLIENT_LIB_SRC_EXECUTOR_H_

#include <cstdint>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace semaphored::internal {

// One background thread that runs tasks one at a time: posted tasks in order, and
// timed tasks at their time. The thread starts with the first task. Used for
// keepalives and for user callbacks, so that neither runs on a gRPC thread.
//
// Thread-safe. Destroying the executor drops the tasks not yet started and joins the
// thread, unless it is destroyed by one of its own tasks (then the thread finishes
// the running task and exits on its own).
class Executor {
 public:
  using Task = absl::AnyInvocable<void()>;

  Executor();
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Runs `task` at `when` (at once if past), after the tasks due before it. Returns
  // an id for Cancel (never 0).
  uint64_t Schedule(absl::Time when, Task task);
  // Runs `task` as soon as possible, after those posted before it.
  void Post(Task task) { Schedule(absl::InfinitePast(), std::move(task)); }
  // Drops a task that has not started; does nothing otherwise.
  void Cancel(uint64_t id);

 private:
  struct State {
    absl::Mutex mu;
    absl::CondVar changed;  // signalled on a new task or stop
    bool stop ABSL_GUARDED_BY(mu) = false;
    uint64_t last_id ABSL_GUARDED_BY(mu) = 0;
    absl::btree_map<std::pair<absl::Time, uint64_t>, Task> tasks ABSL_GUARDED_BY(mu);
    absl::flat_hash_map<uint64_t, absl::Time> when ABSL_GUARDED_BY(mu);
  };
  static void Run(std::shared_ptr<State> state);

  const std::shared_ptr<State> state_;
  absl::Mutex thread_mu_;
  std::thread thread_ ABSL_GUARDED_BY(thread_mu_);
};

}  // namespace semaphored::internal

#endif  // SEMAPHORED_CLIENT_LIB_SRC_EXECUTOR_H_
