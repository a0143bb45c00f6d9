#ifndef SEMAPHORED_SERVER_SERVICE_CONVERT_H_
#define SEMAPHORED_SERVER_SERVICE_CONVERT_H_

// The edge between the wire (semaphored.v1 messages) and the engine (plain C++ types,
// absl::Status); statuses and proto times convert in common/wire_status.h and
// common/proto_time.h. Pure functions: no gRPC server state, no
// clock of their own (callers pass `now`), no I/O. They accept any message the
// protobuf parser can produce, however malformed, and never crash on it: the bad-input
// fuzzer feeds them arbitrary parsed messages.
//
// Validation answers INVALID_ARGUMENT naming the field, the rule and the offending
// value; a missing or malformed session secret answers UNAUTHENTICATED. Secrets are
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
// client_name must pass ValidateClientName; ttl unset or zero means the default,
// negative or invalid is INVALID_ARGUMENT (the core checks the min/max range).
absl::StatusOr<SessionArgs> ToSessionArgs(const v1::CreateSessionRequest& request);

// Validates a set request (name, limit, permits, timeout; not the secret) and computes
// its deadline: try once (InfinitePast) when the timeout is unset or zero and
// wait_indefinitely is false; else now + timeout, or InfiniteFuture for
// wait_indefinitely; either bounded by `call_deadline`.
//   limit: unset = existing or 1; else 1..kMaxLimit.
//   permits: unset = 1; else 1..kMaxLimit and, when limit is given, at most limit.
//   timeout: 0..kMaxWait.
absl::StatusOr<engine::SetArgs> ToSetArgs(const v1::SetSemaphoreRequest& request, absl::Time now,
                                          absl::Time call_deadline);

struct WaitClearArgs {
  std::string name;
  absl::Time deadline = absl::InfinitePast();
};
// As ToSetArgs, for wait-for-clear.
absl::StatusOr<WaitClearArgs> ToWaitClearArgs(
    const v1::WaitSemaphoreClearRequest& request, absl::Time now,
    absl::Time call_deadline);

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
