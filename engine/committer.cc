// Committer: the thread that calls Core::CommitBatch() whenever effects are waiting.

#include "engine/committer.h"

namespace semaphored::engine {

Committer::Committer(Core* core) : core_(core) {
  core_->SetCommitHook([this] {
    absl::MutexLock lock(&mu_);
    woken_ = true;
  });
  thread_ = std::thread([this] { Run(); });
}

Committer::~Committer() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
  core_->SetCommitHook(nullptr);
}

void Committer::Run() {
  for (;;) {
    // Never hold mu_ while calling the core: the core calls the hook (which takes
    // mu_) with its own lock held. A batch that arrived while a commit ran is taken
    // by the next CommitBatch() here, without a wake-up.
    while (core_->CommitBatch()) {
    }
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &Committer::ShouldWake));
    const bool stop = stop_;
    woken_ = false;
    if (stop) break;
  }
  // Stopping: what was appended before is committed, so that its answers are given.
  while (core_->CommitBatch()) {
  }
}

}  // namespace semaphored::engine
