#ifndef SEMAPHORED_SERVER_SERVICE_ADMIN_AUTH_H_
#define SEMAPHORED_SERVER_SERVICE_ADMIN_AUTH_H_

// Who may call AdminService: the one check, used by the leader's admin service and by
// a standby's GetCluster alike.

#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "grpcpp/grpcpp.h"
#include "common/clock.h"
#include "server/observability/logger.h"
#include "server/service/admin_throttle.h"

namespace semaphored::server {

// Decides whether a caller's credential admits it to the admin service. A caller on the
// server's admin socket (`on_admin_socket`, see AdminSocket::CallerOf) is admitted
// without a token. Every other caller -- any TCP connection, loopback included: a
// same-host forwarder makes any caller loopback -- needs the metadata
// "authorization: Bearer TOKEN" (the scheme in any case): none gives UNAUTHENTICATED,
// another token (or another scheme) PERMISSION_DENIED; tokens are compared in
// constant time. Without a configured token, such callers get PERMISSION_DENIED saying
// to use the admin socket or configure a token. Pure function.
absl::Status CheckAdminCredential(absl::string_view configured_token,
                                  absl::string_view authorization_header,
                                  bool has_authorization, bool on_admin_socket);

struct AdminAuthOptions {
  // The admin bearer token; empty: admin socket callers only (CheckAdminCredential).
  std::string admin_token;
  // Who a caller is when it came through the server's admin socket from an allowed
  // user ("uid 1000, pid 4242", for audit lines); nullopt for every other caller.
  // Called on a gRPC thread; must not block. Unset: no caller is on the admin socket.
  std::function<std::optional<std::string>(absl::string_view grpc_peer)>
      admin_socket_caller;
  // Where the throttle of refused attempts (AdminThrottle) takes time from. nullptr:
  // the system clock.
  const internal::Clock* clock = nullptr;
  AdminThrottle::Options throttle;
  // Where refused credentials are logged (WARN admin_refused, at most one line per
  // peer host per second, with the count of those left out: "suppressed"). nullptr:
  // not logged. Must outlive the authorizer.
  const Logger* logger = nullptr;
};

// Checks admin callers: an admin socket caller is admitted; from any other peer host
// that has been refused too often (AdminThrottle) a call gets RESOURCE_EXHAUSTED
// without its token being looked at; otherwise CheckAdminCredential decides.
// Thread-safe; never blocks beyond the throttle's short lock.
class AdminAuthorizer {
 public:
  explicit AdminAuthorizer(AdminAuthOptions options);

  // OK when the caller of `context` may call `action` (a log name: "list_sessions");
  // a refusal is logged. `*by` receives who the caller is for audit lines: the peer,
  // followed by the user for admin socket callers.
  absl::Status Authorize(grpc::CallbackServerContext* context, absl::string_view action,
                         std::string* by);

  const Logger* logger() const { return options_.logger; }

 private:
  const AdminAuthOptions options_;
  AdminThrottle throttle_;
};

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_SERVICE_ADMIN_AUTH_H_
