// Committer: the thread that calls Core::CommitBatch() whenever effects are waiting,
// and the thread that gives the answers the commits release.

#include "engine/committer.h"

namespace semaphored::engine {

void Committer::Stage::Wake() {
  absl::MutexLock lock(&mu);
  woken = true;
}

void Committer::Stage::Stop() {
  {
    absl::MutexLock lock(&mu);
    stop = true;
  }
  thread.join();
}

template <typename Work>
void Committer::Stage::Run(Work work) {
  for (;;) {
    // Never hold mu while calling the core: the core calls the hooks (which take mu)
    // with its own lock held. Work that arrived meanwhile is found by the next call
    // here, without a wake-up.
    while (work()) {
    }
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](Stage* stage) ABSL_NO_THREAD_SAFETY_ANALYSIS { return stage->stop || stage->woken; },
        this));
    const bool stopping = stop;
    woken = false;
    if (stopping) break;
  }
  // Stopping: what came before is done, so that its answers are given.
  while (work()) {
  }
}

Committer::Committer(Core* core) : core_(core) {
  core_->SetCommitHook([this] { commit_.Wake(); });
  core_->SetAnswerHook([this] { answer_.Wake(); });
  commit_.thread = std::thread([this] { commit_.Run([this] { return core_->CommitBatch(); }); });
  answer_.thread = std::thread([this] {
    answer_.Run([this] {
      core_->GiveAnswers();
      return false;
    });
  });
}

Committer::~Committer() {
  // The commits first: the last of them may release answers.
  commit_.Stop();
  answer_.Stop();
  core_->SetCommitHook(nullptr);
  core_->SetAnswerHook(nullptr);
}

}  // namespace semaphored::engine
