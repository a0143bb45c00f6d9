#ifndef SEMAPHORED_TESTS_MULTIPROCESS_CHILD_PROCESS_H_
#define SEMAPHORED_TESTS_MULTIPROCESS_CHILD_PROCESS_H_

// A child process with pipes to its stdin and stdout, for multi-process tests.

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace semaphored::testing {

class ChildProcess {
 public:
  // Starts `argv[0]` with `argv`; stderr is inherited. Aborts the test on failure.
  explicit ChildProcess(const std::vector<std::string>& argv);
  // Kills (SIGKILL) and reaps the child if it still runs.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The next line of the child's stdout (without the newline), or nullopt when none
  // arrives within `timeout` or the child closed its stdout.
  std::optional<std::string> ReadLine(absl::Duration timeout);
  // Writes `line` and a newline to the child's stdin.
  bool WriteLine(const std::string& line);
  void Signal(int sig);
  // Waits up to `timeout` for the child to exit; its wait status, or nullopt.
  std::optional<int> Wait(absl::Duration timeout);
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int to_child_ = -1;
  int from_child_ = -1;
  std::string buffer_;
  bool reaped_ = false;
};

}  // namespace semaphored::testing

#endif  // SEMAPHORED_TESTS_MULTIPROCESS_CHILD_PROCESS_H_
