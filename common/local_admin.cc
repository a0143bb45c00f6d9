// The default admin socket path and the addresses that name this machine.

#include "common/local_admin.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace semaphored::internal {

bool IsLoopbackHost(absl::string_view host) {
  if (absl::EqualsIgnoreCase(host, "localhost")) return true;
  if (absl::ConsumePrefix(&host, "[")) {
    if (!absl::ConsumeSuffix(&host, "]")) return false;
  }
  const std::string text(host);
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) != 1) return false;
  if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
  // ::ffff:127.x.x.x, an IPv4 loopback address seen through an IPv6 socket.
  return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
}

std::string DefaultAdminSocketDir() {
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");
  if (runtime != nullptr && runtime[0] == '/') return absl::StrCat(runtime, "/semaphored");
  if (geteuid() == 0) return "/run/semaphored";
  return absl::StrCat("/tmp/semaphored-", geteuid());
}

std::string DefaultAdminSocketPath(int port) {
  return absl::StrCat(DefaultAdminSocketDir(), "/", port, ".sock");
}

}  // namespace semaphored::internal
