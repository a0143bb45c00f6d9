#ifndef SEMAPHORED_ENGINE_TICKER_H_
#define SEMAPHORED_ENGINE_TICKER_H_

#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "engine/core.h"

namespace semaphored::engine {

// Drives a Core's deadlines in real time: one thread that sleeps until the core's
// next deadline (woken early when an earlier one appears) and then calls Tick().
// Installs itself as the core's deadline hook, so there is one Ticker per Core.
class Ticker {
 public:
  // Starts the thread. `core` must outlive the ticker.
  explicit Ticker(Core* core);
  // Stops and joins the thread.
  ~Ticker();
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;

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

#endif  // SEMAPHORED_ENGINE_TICKER_H_
