#ifndef SEMAPHORED_COMMON_CLOCK_H_
#define SEMAPHORED_COMMON_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace semaphored::internal {

// Where the core takes time from. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// One moment of a clock, read on first use only: reading the clock costs tens of
// nanoseconds on some virtual machines, and many operations turn out not to need it.
class LazyNow {
 public:
  explicit LazyNow(const Clock* clock) : clock_(clock) {}
  absl::Time Get() {
    if (!read_) {
      now_ = clock_->Now();
      read_ = true;
    }
    return now_;
  }

 private:
  const Clock* const clock_;
  bool read_ = false;
  absl::Time now_;
};

// The system clock.
class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  // A process-wide instance; never destroyed.
  static RealClock* Get() {
    static RealClock* clock = new RealClock;
    return clock;
  }
};

// A clock that moves only when told to; for tests and fuzzers.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000))
      : now_(start) {}
  absl::Time Now() const override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace semaphored::internal

#endif  // SEMAPHORED_COMMON_CLOCK_H_
