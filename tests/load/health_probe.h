#ifndef SEMAPHORED_TESTS_LOAD_HEALTH_PROBE_H_
#define SEMAPHORED_TESTS_LOAD_HEALTH_PROBE_H_

// A separate client that keeps asking a server's grpc.health.v1.Health/Check while a
// load runs, and samples the server process's resident memory each time.

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace semaphored::testing {

class HealthProbe {
 public:
  struct Result {
    int64_t calls = 0;
    // Calls that did not answer SERVING within the bound (deadline or any error).
    int64_t failures = 0;
    std::string first_failure;
    absl::Duration max_latency = absl::ZeroDuration();
    // The largest VmRSS of `watch_pid` seen, in bytes (0 if never read).
    int64_t peak_rss = 0;
  };

  // Starts a thread that, on its own connection to `address` (not shared with any
  // other channel of the process), calls Check every `interval`, each with `bound` as
  // its deadline, and reads /proc/`watch_pid`/status after each call.
  HealthProbe(const std::string& address, absl::Duration interval, absl::Duration bound,
              pid_t watch_pid);
  // Stops the thread.
  ~HealthProbe();
  HealthProbe(const HealthProbe&) = delete;
  HealthProbe& operator=(const HealthProbe&) = delete;

  // Stops the thread (after the call in flight, bounded by `bound`). Idempotent.
  void Stop();
  // Thread-safe.
  Result result() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Run(const std::string& address, absl::Duration interval, absl::Duration bound,
           pid_t watch_pid);

  absl::Notification stop_;
  mutable absl::Mutex mu_;
  Result result_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace semaphored::testing

#endif  // SEMAPHORED_TESTS_LOAD_HEALTH_PROBE_H_
