#ifndef SEMAPHORED_SERVER_SERVICE_CONVERT_H_
#define SEMAPHORED_SERVER_SERVICE_CONVERT_H_

// The edge between the wire (semaphored.v1 messages) and the engine (plain C++ types,
// absl::Status); statuses and proto times convert in common/wire_status.h and
// common/proto_time.h. Pure functions: no gRPC server state, no
// clock, no I/O. They accept any message the
// protobuf parser can produce, however malformed, and never crash on it: the bad-input
// fuzzer feeds them arbitrary parsed messages.
//
// They convert and check only what conversion needs (names, valid Durations, the
// secret's format): INVALID_ARGUMENT naming the field, the rule and the offending
// value; a missing or malformed session secret answers UNAUTHENTICATED. The values of
// limits, permits, timeouts and TTLs are the engine's to check
// (engine/request_checks.h), so that both sides answer alike. Secrets are
// never echoed in messages.

#include <cstdint>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "semaphored/v1/semaphore.pb.h"
#include "engine/types.h"

namespace semaphored::server {

// --- Scalars ---

// Checks the format of a session secret (32 lowercase hex digits) without looking
// it up. UNAUTHENTICATED when it is empty ("call CreateSession first") or malformed.
absl::Status CheckSecretFormat(absl::string_view secret);

// --- Requests ---

struct SessionArgs {
  std::string client_name;
  absl::Duration ttl;  // zero: the server's default
};
// client_name must pass ValidateClientName; ttl unset means zero, the default. An
// invalid Duration is INVALID_ARGUMENT; its value is the engine's to check.
absl::StatusOr<SessionArgs> ToSessionArgs(const v1::CreateSessionRequest& request);

// Converts a set request (not the secret), checking only what conversion needs: the
// name (a global name) and that the timeout is a valid Duration. Limit and permits are
// copied as given (unset: nullopt and 1); so are the timeout (unset: zero, try once)
// and wait_indefinitely, bounded by `call_deadline` (see engine::WaitLimit).
// The engine checks the values (engine/request_checks.h).
absl::StatusOr<engine::SetArgs> ToSetArgs(const v1::SetSemaphoreRequest& request,
                                          absl::Time call_deadline);
// As ToSetArgs, for wait-for-clear.
absl::StatusOr<engine::WaitClearArgs> ToWaitClearArgs(
    const v1::WaitSemaphoreClearRequest& request, absl::Time call_deadline);

// The validated name of a clear or test request.
absl::StatusOr<std::string> ToClearName(const v1::ClearSemaphoreRequest& request);
absl::StatusOr<std::string> ToTestName(const v1::TestSemaphoreRequest& request);

// --- Responses ---

v1::CreateSessionResponse ToCreateSessionResponse(const engine::NewSession& session);
v1::RefreshSessionResponse ToRefreshSessionResponse(absl::Time expire_time);
v1::Grant ToGrant(const engine::GrantInfo& grant);
// The semaphore's state with the holders the snapshot lists (the core lists at most
// CoreOptions::max_listed_holders in its answers) and holder_count counting all.
v1::SemaphoreState ToSemaphoreState(const engine::SemaphoreSnapshot& snapshot);
v1::SetSemaphoreResponse ToSetSemaphoreResponse(const engine::SetOutcome& outcome);
v1::WaitSemaphoreClearResponse ToWaitSemaphoreClearResponse(
    const engine::WaitClearOutcome& outcome);

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_SERVICE_CONVERT_H_
