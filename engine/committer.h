#ifndef SEMAPHORED_ENGINE_COMMITTER_H_
#define SEMAPHORED_ENGINE_COMMITTER_H_

#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "engine/core.h"

namespace semaphored::engine {

// Commits a Core's effects as they come (group commit) and gives the answers they
// release, in a pipeline of two threads: the commit thread sleeps until the core has
// effects to commit, then calls Core::CommitBatch() until it has none; the answer
// thread gives each commit's answers (Core::GiveAnswers()) while the next batch
// commits. While one commit runs, every operation goes into the next batch, so under
// load each commit carries many operations. Installs itself as the core's commit and
// answer hooks, so there is one Committer per Core (and only for a core with a store).
class Committer {
 public:
  // Starts the threads. `core` must outlive the committer.
  explicit Committer(Core* core);
  // Commits what is left (unless the store failed) and gives its answers, then stops
  // and joins the threads.
  ~Committer();
  Committer(const Committer&) = delete;
  Committer& operator=(const Committer&) = delete;

 private:
  // One of the two threads: sleeps until woken, then calls `work` until it returns
  // false; once stopped, calls it until then one last time and returns.
  struct Stage {
    absl::Mutex mu;
    bool stop ABSL_GUARDED_BY(mu) = false;
    bool woken ABSL_GUARDED_BY(mu) = false;
    std::thread thread;

    void Wake() ABSL_LOCKS_EXCLUDED(mu);
    void Stop() ABSL_LOCKS_EXCLUDED(mu);
    template <typename Work>
    void Run(Work work) ABSL_LOCKS_EXCLUDED(mu);
  };

  Core* const core_;
  Stage commit_;
  Stage answer_;
};

}  // namespace semaphored::engine

#endif  // SEMAPHORED_ENGINE_COMMITTER_H_
