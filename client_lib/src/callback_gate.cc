// CallbackGate: runs a session's user callbacks in the background until it closes.

#include "callback_gate.h"

#include <utility>

namespace semaphored::internal {

void CallbackGate::Post(Executor& executor, absl::AnyInvocable<void()> callback) {
  executor.Post([weak = weak_from_this(), callback = std::move(callback)]() mutable {
    if (auto self = weak.lock()) self->Run(callback);
  });
}

void CallbackGate::Run(absl::AnyInvocable<void()>& callback) {
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    running_ = true;
    running_thread_ = std::this_thread::get_id();
  }
  callback();
  absl::MutexLock lock(&mu_);
  running_ = false;
  running_thread_ = std::thread::id();
}

void CallbackGate::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  if (running_thread_ == std::this_thread::get_id()) return;
  mu_.Await(absl::Condition(+[](bool* running) { return !*running; }, &running_));
}

}  // namespace semaphored::internal
