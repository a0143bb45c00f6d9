#ifndef SEMAPHORED_TESTS_TORTURE_PROCESS_H_
#define SEMAPHORED_TESTS_TORTURE_PROCESS_H_

// Child processes for the torture test: started with their output going to a file
// (never a pipe, which a chatty child could fill and block on), waited for with a
// bound.

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace semaphored::torture {

// Starts `argv[0]` with `argv` (PATH is not searched); its stdout and stderr are
// appended to `log_path`, its stdin is /dev/null. Returns its pid.
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, const std::string& log_path);

// Waits up to `timeout` for `pid` to exit and reaps it: its wait status, or nullopt
// when it is still running.
std::optional<int> WaitForExit(pid_t pid, absl::Duration timeout);

// SIGKILLs `pid` and reaps it.
void KillAndReap(pid_t pid);

}  // namespace semaphored::torture

#endif  // SEMAPHORED_TESTS_TORTURE_PROCESS_H_
