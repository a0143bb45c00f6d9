#ifndef SEMAPHORED_TOOLS_SEMCTL_OPTIONS_H_
#define SEMAPHORED_TOOLS_SEMCTL_OPTIONS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace semaphored::semctl {

// Everything the command line says, global and per-subcommand options together.
struct Options {
  std::string server;  // --server, else $SEMAPHORED_SERVER, else 127.0.0.1:50051
  bool json = false;
  absl::Duration timeout = absl::Seconds(5);  // --timeout: connect timeout
  bool tls = false;
  std::string tls_ca, tls_cert, tls_key;
  std::string client_name;
  absl::Duration ttl = absl::ZeroDuration();  // zero: the server's default
  std::string admin_token;  // --admin_token, else $SEMAPHORED_ADMIN_TOKEN
  // --admin_socket, else $SEMAPHORED_ADMIN_SOCKET: a path, "auto" or empty (the
  // server's default socket when --server is on this machine), "off" (TCP only).
  std::string admin_socket;
  // Subcommand options.
  absl::Duration wait = absl::ZeroDuration();  // --wait / --wait-forever (infinite)
  bool wait_given = false;
  std::optional<int32_t> limit;
  int32_t permits = 1;
  std::string prefix;
  int32_t page_size = 0;
  std::string reason;
  absl::Duration grace = absl::Seconds(5);  // run: SIGTERM→SIGKILL grace period
  bool help = false;
  std::string command;            // the subcommand
  std::vector<std::string> args;  // its positional arguments
  std::vector<std::string> argv;  // run: the COMMAND after "--"
};

}  // namespace semaphored::semctl

#endif  // SEMAPHORED_TOOLS_SEMCTL_OPTIONS_H_
