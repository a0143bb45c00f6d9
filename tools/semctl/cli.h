#ifndef SEMAPHORED_TOOLS_SEMCTL_CLI_H_
#define SEMAPHORED_TOOLS_SEMCTL_CLI_H_

// semctl's command line: parsing (into Options, options.h), exit codes, help texts
// and error reporting.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "options.h"

namespace semaphored::semctl {

// Exit codes (documented in `semctl --help`). `run` exits with the command's own code
// otherwise (128+N when it died of signal N).
enum ExitCode : int {
  kOk = 0,
  kNotAcquired = 1,    // already set, timed out, wait-clear timed out, not serving
  kUsage = 2,          // bad command line (or a name the server calls invalid)
  kCannotConnect = 3,  // cannot connect / server unavailable
  kNotPermitted = 4,   // PERMISSION_DENIED or UNAUTHENTICATED
  kNotFound = 5,       // NOT_FOUND
  kSessionLost = 6,    // the session was lost (or the semaphore revoked) while held
  kOtherError = 7,
};

// Parses argv. On error returns INVALID_ARGUMENT with a message for the user.
absl::Status ParseCommandLine(int argc, char** argv, Options& options);

// The help text of `command` (empty: the global help).
std::string HelpText(const std::string& command);

// Prints "semctl: MESSAGE" on stderr and returns `code`.
int Fail(int code, const std::string& message);

// The exit code for a failed call's status (see ExitCode).
int ExitCodeFor(const absl::Status& status);

// Prints "semctl: <message>" for `status` and returns ExitCodeFor(status).
int FailWith(const absl::Status& status);

// INVALID_ARGUMENT for a '$' name: those are local to one process, and semctl only
// works on the server's global semaphores.
absl::Status CheckGlobalName(const std::string& name);

// JSON string literal for `text` (quoted, escaped).
std::string JsonString(const std::string& text);

}  // namespace semaphored::semctl

#endif  // SEMAPHORED_TOOLS_SEMCTL_CLI_H_
