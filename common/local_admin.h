#ifndef SEMAPHORED_COMMON_LOCAL_ADMIN_H_
#define SEMAPHORED_COMMON_LOCAL_ADMIN_H_

// Where the server's admin socket lives by default, and which addresses name this
// machine: the rules semaphored and semctl share so that semctl finds the socket of a
// server on the same machine without being told. Plain C++; thread-safe apart from
// reading the environment.

#include <string>

#include "absl/strings/string_view.h"

namespace semaphored::internal {

// True for a host that names this machine's loopback: "localhost", an IPv4 address in
// 127.0.0.0/8, "::1" or "::ffff:127.x.x.x" (IPv6 with or without brackets). Textual:
// nothing is resolved.
bool IsLoopbackHost(absl::string_view host);

// The directory of the default admin sockets of the calling user:
//   $XDG_RUNTIME_DIR/semaphored   when XDG_RUNTIME_DIR is set (the user's private
//                                 runtime directory, mode 0700, made by the login)
//   /run/semaphored               for root without XDG_RUNTIME_DIR
//   /tmp/semaphored-UID           otherwise (as tmux does; the server makes it with
//                                 mode 0700 and refuses it when someone else owns it
//                                 or it is group/world writable)
std::string DefaultAdminSocketDir();

// DIR/PORT.sock in DefaultAdminSocketDir(): one socket per server port, so that
// servers on different ports (tests run many at once) never share one.
std::string DefaultAdminSocketPath(int port);

}  // namespace semaphored::internal

#endif  // SEMAPHORED_COMMON_LOCAL_ADMIN_H_
