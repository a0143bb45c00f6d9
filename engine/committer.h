#ifndef SEMAPHORED_ENGINE_COMMITTER_H_
#define SEMAPHORED_ENGINE_COMMITTER_H_

#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "engine/core.h"

namespace semaphored::engine {

// Commits a Core's effects as they come (group commit): one thread that sleeps until
// the core has effects to commit, then calls Core::CommitBatch() until it has none.
// While one commit runs, every operation goes into the next batch, so under load each
// commit carries many operations. Installs itself as the core's commit hook, so there
// is one Committer per Core (and only for a core with a store).
class Committer {
 public:
  // Starts the thread. `core` must outlive the committer.
  explicit Committer(Core* core);
  // Commits what is left (unless the store failed), then stops and joins the thread.
  ~Committer();
  Committer(const Committer&) = delete;
  Committer& operator=(const Committer&) = delete;

 private:
  void Run();
  bool ShouldWake() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || woken_; }

  Core* const core_;
  absl::Mutex mu_;
  // State below is protected by mu_.
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace semaphored::engine

#endif  // SEMAPHORED_ENGINE_COMMITTER_H_
