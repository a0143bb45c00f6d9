// AdminAuthorizer: the admin credential check, its throttle and its log lines.

#include "server/service/admin_auth.h"

#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "server/service/peer.h"

namespace semaphored::server {
namespace {

using ::semaphored::internal::RealClock;

// A refused credential: the fields of LogAdminRefused, plus how many refusals from
// the same host were not logged since the previous line.
void LogRefusedCredential(const Logger& logger, absl::string_view action,
                          absl::string_view peer, int64_t suppressed,
                          const absl::Status& status) {
  std::vector<LogField> fields;
  fields.reserve(5);
  fields.emplace_back("action", action);
  fields.emplace_back("by", peer);
  fields.emplace_back("code", absl::StatusCodeToString(status.code()));
  fields.emplace_back("error", status.message());
  if (suppressed > 0) fields.emplace_back("suppressed", suppressed);
  logger.Log(LogLevel::kWarn, "admin_refused", absl::MakeConstSpan(fields));
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  // The loop runs over `a` (the presented token) whatever `b` is, so the time taken
  // does not tell how much of the configured token matched.
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

}  // namespace

absl::Status CheckAdminCredential(absl::string_view configured_token,
                                  absl::string_view authorization_header,
                                  bool has_authorization, bool on_admin_socket) {
  if (on_admin_socket) return absl::OkStatus();
  if (configured_token.empty()) {
    return absl::PermissionDeniedError(
        "this server has no admin token, so its admin service answers only on its admin "
        "socket (semctl on the server's machine uses it, as root or the server's user; "
        "see --admin_socket); for admin over the network start the server with "
        "--admin_token_file, SEMAPHORED_ADMIN_TOKEN or --admin_token");
  }
  if (!has_authorization) {
    return absl::UnauthenticatedError(
        "admin methods need the metadata \"authorization: Bearer TOKEN\" with the "
        "server's admin token");
  }
  // The scheme is case-insensitive (RFC 9110 section 11.1).
  constexpr absl::string_view kScheme = "bearer ";
  absl::string_view token = authorization_header;
  if (!absl::StartsWithIgnoreCase(token, kScheme)) {
    return absl::PermissionDeniedError(
        "the authorization metadata must be \"Bearer TOKEN\" with the server's admin "
        "token");
  }
  token.remove_prefix(kScheme.size());
  if (!ConstantTimeEquals(token, configured_token)) {
    return absl::PermissionDeniedError("the admin token is wrong");
  }
  return absl::OkStatus();
}

AdminAuthorizer::AdminAuthorizer(AdminAuthOptions options)
    : options_(std::move(options)),
      throttle_(options_.clock != nullptr ? options_.clock : RealClock::Get(),
                options_.throttle) {}

absl::Status AdminAuthorizer::Authorize(grpc::CallbackServerContext* context,
                                        absl::string_view action, std::string* by) {
  const std::string peer = context->peer();
  *by = peer;
  if (options_.admin_socket_caller) {
    if (std::optional<std::string> who = options_.admin_socket_caller(peer)) {
      absl::StrAppend(by, " (admin socket, ", *who, ")");
      return CheckAdminCredential(options_.admin_token, "", false, true);
    }
  }
  const std::string host = PeerHost(peer);
  // Without a configured token there is nothing to guess: no throttle, only the
  // rate-limited log line.
  const bool throttled = !options_.admin_token.empty();
  absl::Status status = throttled ? throttle_.Admit(host) : absl::OkStatus();
  if (status.ok()) {
    const auto& metadata = context->client_metadata();
    auto it = metadata.find("authorization");
    absl::string_view header;
    if (it != metadata.end()) {
      header = absl::string_view(it->second.data(), it->second.size());
    }
    status = CheckAdminCredential(options_.admin_token, header, it != metadata.end(),
                                  false);
    if (throttled && status.ok()) throttle_.RecordSuccess(host);
    if (throttled && !status.ok()) throttle_.RecordFailure(host);
  }
  int64_t suppressed = 0;
  if (!status.ok() && options_.logger != nullptr && throttle_.ShouldLog(host, &suppressed)) {
    LogRefusedCredential(*options_.logger, action, peer, suppressed, status);
  }
  return status;
}

}  // namespace semaphored::server
