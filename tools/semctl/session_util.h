#ifndef SEMAPHORED_TOOLS_SEMCTL_SESSION_UTIL_H_
#define SEMAPHORED_TOOLS_SEMCTL_SESSION_UTIL_H_

// Helpers shared by the session commands (defined in session_commands.cc).

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli.h"
#include "held_name.h"
#include "semaphored/client.h"

namespace semaphored::semctl {

// Opens semctl's session (client name and TTL from the options).
absl::StatusOr<std::unique_ptr<Session>> OpenCliSession(Client& client, const Options& o);
// Connects, opens semctl's session and acquires `name` as --wait/--limit/--permits
// say; a SIGINT/SIGTERM/SIGHUP during the wait cancels it. Returns kOk with `held`
// filled in, or the exit code after reporting why nothing is held.
int AcquireForCommand(const Options& o, const std::string& name, HeldName& held);
// Reports a try or wait that did not get `name` (JSON too with --json); returns 1.
int NotAcquired(const Options& o, const std::string& name, const SemaphoreInfo& state);
// RFC 3339 UTC with milliseconds.
std::string TimeText(absl::Time t);
// One semaphore as JSON / as human text.
std::string InfoJson(const SemaphoreInfo& info);
std::string InfoText(const SemaphoreInfo& info);

}  // namespace semaphored::semctl

#endif  // SEMAPHORED_TOOLS_SEMCTL_SESSION_UTIL_H_
