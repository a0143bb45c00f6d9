#ifndef SEMAPHORED_TOOLS_SEMCTL_COMMANDS_H_
#define SEMAPHORED_TOOLS_SEMCTL_COMMANDS_H_

// The subcommands. Each takes the parsed command line, prints its result (stdout)
// or error (stderr, "semctl: ..."), and returns semctl's exit code (see cli.h).

#include <memory>

#include "absl/status/statusor.h"
#include "cli.h"
#include "semaphored/client.h"

namespace semaphored::semctl {

// Connects the client library as the options say (address, TLS, timeout, name).
absl::StatusOr<std::unique_ptr<Client>> ConnectClient(const Options& options);

// Session commands (session_commands.cc, run_command.cc).
int SetCommand(const Options& options);
int ClearCommand(const Options& options);
int TestCommand(const Options& options);
int WaitClearCommand(const Options& options);
int RunCommand(const Options& options);

// Admin and health commands (admin_commands.cc), over their own gRPC channel.
int ListCommand(const Options& options);
int SessionsCommand(const Options& options);
int ForceClearCommand(const Options& options);
int DrainCommand(const Options& options);
int ClusterCommand(const Options& options);
int HealthCommand(const Options& options);

}  // namespace semaphored::semctl

#endif  // SEMAPHORED_TOOLS_SEMCTL_COMMANDS_H_
