#ifndef SEMAPHORED_TESTS_ATTACKS_ATTACKED_SERVER_H_
#define SEMAPHORED_TESTS_ATTACKS_ATTACKED_SERVER_H_

// The real semaphored binary as a child process to be attacked: on 127.0.0.1 port 0
// (the port read from --port_file), its log in a file, with the usual Linux soft
// limit of open files, and in a memory cgroup of its own when this machine lets us
// make one (cgroup v1 memory controller or cgroup v2 with memory delegated; we run as
// root). Without a cgroup, the memory bound is kept by AttackMonitor's watchdog, which
// kills the server when its resident memory passes the limit.

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace semaphored::testing {

struct AttackedServerOptions {
  std::string binary;
  std::string dir;  // scratch: port file, log, state file
  std::vector<std::string> args;
  // The cgroup's memory limit (and the watchdog's, without a cgroup).
  int64_t memory_limit = int64_t{1} << 30;
  // RLIMIT_NOFILE's soft limit for the server (the hard limit is left as it is): 1024
  // is what a login shell or a systemd service gets by default.
  int64_t open_files_soft_limit = 1024;
  bool metrics = false;  // --metrics_address=127.0.0.1:0
};

class AttackedServer {
 public:
  struct Memory {
    int64_t rss = 0;  // VmRSS, bytes
    int64_t hwm = 0;  // VmHWM: the peak resident size, bytes
  };

  // Starts the server; returns once it listens (and, with metrics, once its start
  // line names the metrics port).
  static absl::StatusOr<std::unique_ptr<AttackedServer>> Start(AttackedServerOptions options);
  // Kills and reaps the server, removes its cgroup.
  ~AttackedServer();
  AttackedServer(const AttackedServer&) = delete;
  AttackedServer& operator=(const AttackedServer&) = delete;

  pid_t pid() const { return pid_; }
  std::string grpc_address() const;
  std::string metrics_address() const;  // empty without metrics
  int64_t memory_limit() const { return options_.memory_limit; }
  // Where its memory is bounded: "cgroup v1 PATH", "cgroup v2 PATH" or "watchdog
  // (no cgroup: WHY)".
  const std::string& memory_bound() const { return memory_bound_; }
  bool in_cgroup() const { return !cgroup_.empty(); }

  // Whether the process still runs (it is reaped once it has ended). Thread-safe.
  bool Alive() ABSL_LOCKS_EXCLUDED(mu_);
  // How it ended ("exit status 0", "killed by SIGKILL (OOM killer in its cgroup)"),
  // or "running". Thread-safe.
  std::string ExitDescription() ABSL_LOCKS_EXCLUDED(mu_);
  // VmRSS/VmHWM from /proc/PID/status; NOT_FOUND once the process is gone.
  absl::StatusOr<Memory> ReadMemory() const;
  // The cgroup's OOM kills so far (0 without a cgroup).
  int64_t OomKills() const;
  // The cgroup's peak memory use (page cache and kernel memory included), bytes; -1
  // without a cgroup or where the kernel does not keep it.
  int64_t CgroupPeak() const;
  // SIGKILL, for the watchdog.
  void Kill();

  int64_t LogBytes() const;
  std::string LogTail(size_t max_bytes = 3000) const;

 private:
  explicit AttackedServer(AttackedServerOptions options) : options_(std::move(options)) {}
  void MakeCgroup();

  const AttackedServerOptions options_;
  pid_t pid_ = -1;
  int port_ = 0;
  int metrics_port_ = 0;
  std::string log_path_;
  std::string cgroup_;  // directory; empty without one
  int cgroup_version_ = 0;
  std::string memory_bound_;

  absl::Mutex mu_;
  bool reaped_ ABSL_GUARDED_BY(mu_) = false;
  int wait_status_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace semaphored::testing

#endif  // SEMAPHORED_TESTS_ATTACKS_ATTACKED_SERVER_H_
