#ifndef SEMAPHORED_TESTS_LOAD_LOAD_DRIVER_H_
#define SEMAPHORED_TESTS_LOAD_LOAD_DRIVER_H_

// Many concurrent sessions of the real client library churning on a server: holders
// and waiters on a few contended names, tries, wait-for-clear, tests, clears, and
// sessions closed and replaced, for a bounded time.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "semaphored/client.h"

namespace semaphored::testing {

struct LoadOptions {
  std::string address;
  // Live sessions during the run (replaced ones included: the count stays).
  int sessions = 1000;
  // Client objects (gRPC channels) the sessions are spread over.
  int clients = 4;
  // Threads issuing calls; each owns sessions/threads of the sessions. The library is
  // asynchronous underneath: the sessions need no thread of their own.
  int threads = 32;
  // Contended names "load/hot/<i>", limits 1 to 3.
  int hot_names = 16;
  // Every session holds its own "load/own/<i>" all run long (1,000 held semaphores).
  absl::Duration session_ttl = absl::Seconds(10);
};

struct LoadStats {
  int64_t calls = 0;
  int64_t grants = 0;
  int64_t not_acquired = 0;  // tries that found it set, waits that timed out
  int64_t wait_clears = 0;
  int64_t sessions_replaced = 0;
  int64_t errors = 0;  // calls that failed (none should)
  std::string first_error;
};

// Not thread-safe: one test thread calls Open, Run and CloseAll in that order.
class LoadDriver {
 public:
  explicit LoadDriver(LoadOptions options);
  ~LoadDriver();
  LoadDriver(const LoadDriver&) = delete;
  LoadDriver& operator=(const LoadDriver&) = delete;

  // Connects the clients and opens every session (in parallel, one slice per thread),
  // each setting its own name. The first error, if any.
  absl::Status Open();
  // Churns for `duration` (every thread stops at the deadline; waits are shorter than
  // 100 ms) and returns what happened.
  LoadStats Run(absl::Duration duration);
  // Closes every session (in parallel) and the clients. The first error, if any.
  absl::Status CloseAll();

 private:
  struct Slot;
  class Worker;

  const LoadOptions options_;
  std::vector<std::unique_ptr<Client>> clients_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace semaphored::testing

#endif  // SEMAPHORED_TESTS_LOAD_LOAD_DRIVER_H_
