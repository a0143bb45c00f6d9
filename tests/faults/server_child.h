#ifndef SEMAPHORED_TESTS_FAULTS_SERVER_CHILD_H_
#define SEMAPHORED_TESTS_FAULTS_SERVER_CHILD_H_

// The real `semaphored` binary as a child process, for the fault and load tests: it
// listens where the test says (loopback, or a test's own veth address), reports its port
// through --port_file, logs to a file (never to a pipe nobody reads, which would stall a
// busy server), and can be killed and started again on the same port and state file.
// Also: a scratch directory per test, and a process's resident memory.

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace semaphored::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class ScratchDir {
 public:
  // Aborts the test (ADD_FAILURE) and leaves path() empty when mkdtemp fails.
  explicit ScratchDir(const std::string& prefix);
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name.
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Reads a whole file; NOT_FOUND when it cannot be opened.
absl::StatusOr<std::string> ReadFileText(const std::string& path);
// Writes (truncates) a whole file.
absl::Status WriteFileText(const std::string& path, const std::string& text);

// VmRSS of process `pid` from /proc/PID/status, in bytes.
absl::StatusOr<int64_t> ResidentBytes(pid_t pid);

// A running semaphored child. Not thread-safe (one test thread drives it).
class ServerChild {
 public:
  // Starts `binary` with --listen=HOST:PORT (port 0: a free one), --port_file and
  // stdout/stderr appended to a log file, all in `dir`, plus `args`. Returns once the
  // server has written its port file (it then listens), or fails with DEADLINE_EXCEEDED
  // after `timeout`, or UNAVAILABLE when the process exits first; both errors quote
  // the end of the log. The child gets SIGKILL when the calling thread exits (so a
  // test killed by a timeout leaves no server behind): call it from the test's thread.
  static absl::StatusOr<std::unique_ptr<ServerChild>> Start(
      const std::string& binary, const std::string& dir, const std::string& host,
      int port, const std::vector<std::string>& args,
      absl::Duration timeout = absl::Seconds(20));

  // Kills (SIGKILL) and reaps the process if it still runs.
  ~ServerChild();
  ServerChild(const ServerChild&) = delete;
  ServerChild& operator=(const ServerChild&) = delete;

  // SIGKILL, then reaps the process (bounded by 10 s; false if it did not die).
  bool Kill();
  // SIGTERM (a graceful drain), then waits up to `timeout` for the exit; the exit code
  // (128 + signal when killed by one), or DEADLINE_EXCEEDED.
  absl::StatusOr<int> Terminate(absl::Duration timeout = absl::Seconds(20));
  // Waits up to `timeout` for the process to exit by itself: its exit code (128 +
  // signal when killed by one), or DEADLINE_EXCEEDED.
  absl::StatusOr<int> AwaitExit(absl::Duration timeout);

  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  // "HOST:PORT", to connect to.
  std::string address() const;
  const std::string& log_path() const { return log_path_; }
  // The last `max_bytes` of the log, for failure messages.
  std::string LogTail(size_t max_bytes = 4000) const;

 private:
  ServerChild(pid_t pid, std::string host, std::string log_path)
      : pid_(pid), host_(std::move(host)), log_path_(std::move(log_path)) {}
  // Waits up to `timeout` for the exit; the wait status, or -1.
  int Reap(absl::Duration timeout);

  pid_t pid_ = -1;
  bool reaped_ = false;
  int port_ = 0;
  std::string host_;
  std::string log_path_;
};

}  // namespace semaphored::testing

#endif  // SEMAPHORED_TESTS_FAULTS_SERVER_CHILD_H_
