#ifndef SEMAPHORED_TESTS_ATTACKS_ATTACK_MONITOR_H_
#define SEMAPHORED_TESTS_ATTACKS_ATTACK_MONITOR_H_

// Watches an AttackedServer while an attack runs:
//   - a health prober: grpc.health.v1.Health/Check every kProbeInterval, each on a NEW
//     connection (as a new client or an orchestrator's probe would come), with a
//     deadline of kProbeDeadline; it records the slowest answer and the time the
//     server was unavailable: from the start of a probe that failed or took longer
//     than kAvailableWithin until the start of the next one that did not (a dead
//     server is unavailable until the monitor stops);
//   - a memory sampler: VmRSS and VmHWM every 10 ms; without a cgroup it is also the
//     watchdog that kills the server once VmRSS passes the server's memory limit.

#include <cstdint>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "tests/attacks/attacked_server.h"

namespace semaphored::testing {

inline constexpr absl::Duration kProbeInterval = absl::Milliseconds(50);
inline constexpr absl::Duration kProbeDeadline = absl::Seconds(5);
inline constexpr absl::Duration kAvailableWithin = absl::Seconds(1);

class AttackMonitor {
 public:
  struct Result {
    int64_t probes = 0;
    int64_t probe_failures = 0;  // failed, or slower than kAvailableWithin
    std::string first_failure;
    absl::Duration max_health_latency = absl::ZeroDuration();
    absl::Duration unavailable = absl::ZeroDuration();
    int64_t peak_rss = 0;  // the largest VmHWM (or VmRSS) seen, bytes
    bool watchdog_killed = false;
  };

  // Starts both threads. `server` must outlive the monitor.
  explicit AttackMonitor(AttackedServer* server);
  // Stops (see Stop).
  ~AttackMonitor();
  AttackMonitor(const AttackMonitor&) = delete;
  AttackMonitor& operator=(const AttackMonitor&) = delete;

  // Stops the threads (the probe in flight is waited for) and returns the result.
  // Idempotent.
  Result Stop() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Probe();
  void Sample();

  AttackedServer* const server_;
  absl::Notification stop_;
  absl::Mutex mu_;
  Result result_ ABSL_GUARDED_BY(mu_);
  absl::Time bad_since_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  std::thread prober_;
  std::thread sampler_;
};

}  // namespace semaphored::testing

#endif  // SEMAPHORED_TESTS_ATTACKS_ATTACK_MONITOR_H_
