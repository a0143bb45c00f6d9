#ifndef SEMAPHORED_TESTS_TORTURE_WORKERS_H_
#define SEMAPHORED_TESTS_TORTURE_WORKERS_H_

// The client side of a torture run: torture_worker processes running random
// operations against the server address (or comma-separated list of servers), one of
// them SIGKILLed now and then and replaced, waited for at the end, and their histories
// collected with a record of every kill. Used by the single-server runs
// (torture_test.cc) and the runs across leaders on etcd (tests/etcd).

#include <sys/types.h>

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "tests/torture/history.h"

namespace semaphored::torture {

// An integer from the environment: `fallback` when unset or not a number.
int64_t EnvInt(const char* name, int64_t fallback);

// A run's work directory (histories, traces, logs), made under $TMPDIR (or /tmp):
// removed with its contents at the end when the test passed and SEMAPHORED_TORTURE_KEEP
// is not set; kept, and its path printed, otherwise. An empty path() when it could
// not be made (a test failure).
class RunDir {
 public:
  explicit RunDir(const std::string& prefix);
  ~RunDir();
  RunDir(const RunDir&) = delete;
  RunDir& operator=(const RunDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Reads the port a server wrote to `path`, waiting up to `timeout`; 0 on timeout.
int AwaitPort(const std::string& path, absl::Duration timeout = absl::Seconds(15));

// When the service was out: from the fault to serving again (monotonic ns).
struct Outage {
  std::string fault;  // "SIGKILL", "etcd leader killed", ...
  int64_t down_ns = 0;
  int64_t up_ns = 0;
};

// Calls that were in flight across a whole outage and still ended without an error:
// what the sessions' resume carried across.
int64_t CallsAcrossOutages(const History& history, const std::vector<Outage>& outages);

// Not thread-safe: the test's thread drives it. Failures are gtest failures.
class WorkerPool {
 public:
  // Workers run `threads` sessions each, write their histories (and log) under `dir`,
  // and take their seeds from `rng`.
  WorkerPool(std::string dir, int64_t threads, std::mt19937_64& rng)
      : dir_(std::move(dir)), threads_(threads), rng_(rng) {}
  // A run cut short by a failed assertion leaves no worker behind.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // The server address workers started from now on are given.
  void set_address(std::string address) { address_ = std::move(address); }

  // Starts a worker that runs until `end_ns` (MonotonicNanos).
  void Start(int64_t end_ns);
  // SIGKILLs a worker chosen at random, records the kill, and starts another.
  void CrashOne(int64_t end_ns);
  // Waits for every worker (until 30 s past `end_ns`); each must exit 0. One that
  // does not finish is killed, recorded as stuck, and fails the test.
  void WaitAll(int64_t end_ns);
  // Every worker's history and the kill records.
  History Collect() const;

  int crashes() const { return crashes_; }

 private:
  // Records a kill: from just before the signal until the process was reaped.
  void Record(OpKind kind, pid_t pid, int64_t kill_ns);

  const std::string dir_;
  const int64_t threads_;
  std::mt19937_64& rng_;
  std::string address_;
  std::vector<pid_t> running_;
  std::vector<std::pair<std::string, pid_t>> histories_;  // history file, worker
  absl::flat_hash_set<pid_t> killed_;
  History parent_;  // kills and stuck workers
  int crashes_ = 0;
};

}  // namespace semaphored::torture

#endif  // SEMAPHORED_TESTS_TORTURE_WORKERS_H_
