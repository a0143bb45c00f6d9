// Ticker: the thread that calls Core::Tick() when the core's next deadline passes.

#include "engine/ticker.h"

namespace semaphored::engine {

Ticker::Ticker(Core* core) : core_(core) {
  core_->SetDeadlineHook([this] {
    absl::MutexLock lock(&mu_);
    woken_ = true;
  });
  thread_ = std::thread([this] { Run(); });
}

Ticker::~Ticker() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
  core_->SetDeadlineHook(nullptr);
}

void Ticker::Run() {
  for (;;) {
    // Never hold mu_ while calling the core: the core calls the hook (which takes
    // mu_) with its own lock held.
    core_->Tick();
    const absl::Time next = core_->NextDeadline();
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithDeadline(absl::Condition(this, &Ticker::ShouldWake), next);
    if (stop_) return;
    woken_ = false;
  }
}

}  // namespace semaphored::engine
