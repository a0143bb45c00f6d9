// Conversions between the wire's requests and answers and the engine's types.

#include "server/service/convert.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "common/proto_time.h"

namespace semaphored::server {

using ::semaphored::internal::FormatSessionId;
using ::semaphored::internal::FromProtoDuration;
using ::semaphored::internal::ToProtoDuration;
using ::semaphored::internal::ToProtoTimestamp;
using ::semaphored::internal::ValidateClientName;
using ::semaphored::internal::ValidateGlobalName;

using engine::GrantInfo;
using engine::HolderSnapshot;
using engine::NewSession;
using engine::SemaphoreSnapshot;
using engine::SetArgs;
using engine::SetOutcome;
using engine::WaitClearArgs;
using engine::WaitClearOutcome;

namespace {

// The wait of a set or wait-for-clear request: see ToSetArgs.
absl::StatusOr<engine::WaitLimit> ToWaitLimit(bool has_timeout,
                                              const google::protobuf::Duration& timeout,
                                              bool wait_indefinitely,
                                              absl::Time call_deadline) {
  engine::WaitLimit wait;
  wait.deadline = call_deadline;
  wait.indefinitely = wait_indefinitely;
  if (has_timeout) {
    absl::StatusOr<absl::Duration> d = FromProtoDuration(timeout, "timeout");
    if (!d.ok()) return d.status();
    wait.timeout = *d;
  }
  return wait;
}

}  // namespace

// --- Scalars ---

absl::Status CheckSecretFormat(absl::string_view secret) {
  if (secret.empty()) {
    return absl::UnauthenticatedError(
        "session_secret is missing: call CreateSession first and pass its "
        "session_secret");
  }
  const bool well_formed =
      secret.size() == 32 && std::all_of(secret.begin(), secret.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      });
  if (!well_formed) {
    return absl::UnauthenticatedError(
        "session_secret is malformed (expected the 32 lowercase hex digits that "
        "CreateSession returned): open a new session");
  }
  return absl::OkStatus();
}

// --- Requests ---

absl::StatusOr<SessionArgs> ToSessionArgs(const v1::CreateSessionRequest& request) {
  SessionArgs args;
  if (absl::Status s = ValidateClientName(request.client_name()); !s.ok()) return s;
  args.client_name = request.client_name();
  args.ttl = absl::ZeroDuration();
  if (request.has_ttl()) {
    absl::StatusOr<absl::Duration> ttl = FromProtoDuration(request.ttl(), "ttl");
    if (!ttl.ok()) return ttl.status();
    args.ttl = *ttl;
  }
  return args;
}

absl::StatusOr<SetArgs> ToSetArgs(const v1::SetSemaphoreRequest& request,
                                  absl::Time call_deadline) {
  const std::string& name = request.name();
  if (absl::Status s = ValidateGlobalName(name); !s.ok()) return s;
  absl::StatusOr<engine::WaitLimit> wait =
      ToWaitLimit(request.has_timeout(), request.timeout(), request.wait_indefinitely(),
                  call_deadline);
  if (!wait.ok()) return wait.status();
  SetArgs args;
  args.name = name;
  if (request.has_limit()) args.limit = request.limit();
  if (request.has_permits()) args.permits = request.permits();
  args.wait = *wait;
  return args;
}

absl::StatusOr<WaitClearArgs> ToWaitClearArgs(const v1::WaitSemaphoreClearRequest& request,
                                              absl::Time call_deadline) {
  const std::string& name = request.name();
  if (absl::Status s = ValidateGlobalName(name); !s.ok()) return s;
  absl::StatusOr<engine::WaitLimit> wait =
      ToWaitLimit(request.has_timeout(), request.timeout(), request.wait_indefinitely(),
                  call_deadline);
  if (!wait.ok()) return wait.status();
  WaitClearArgs args;
  args.name = name;
  args.wait = *wait;
  return args;
}

absl::StatusOr<std::string> ToClearName(const v1::ClearSemaphoreRequest& request) {
  if (absl::Status s = ValidateGlobalName(request.name()); !s.ok()) return s;
  return request.name();
}

absl::StatusOr<std::string> ToTestName(const v1::TestSemaphoreRequest& request) {
  if (absl::Status s = ValidateGlobalName(request.name()); !s.ok()) return s;
  return request.name();
}

// --- Responses ---

v1::CreateSessionResponse ToCreateSessionResponse(const NewSession& session) {
  v1::CreateSessionResponse out;
  out.set_session_secret(session.secret);
  out.set_session_id(FormatSessionId(session.id));
  *out.mutable_ttl() = ToProtoDuration(session.ttl);
  *out.mutable_expire_time() = ToProtoTimestamp(session.expire_time);
  return out;
}

v1::RefreshSessionResponse ToRefreshSessionResponse(absl::Time expire_time) {
  v1::RefreshSessionResponse out;
  *out.mutable_expire_time() = ToProtoTimestamp(expire_time);
  return out;
}

v1::Grant ToGrant(const GrantInfo& grant) {
  v1::Grant out;
  out.set_fencing_token(grant.fencing_token);
  out.set_permits(grant.permits);
  *out.mutable_grant_time() = ToProtoTimestamp(grant.grant_time);
  return out;
}

v1::SemaphoreState ToSemaphoreState(const SemaphoreSnapshot& snapshot) {
  v1::SemaphoreState out;
  out.set_name(snapshot.name);
  out.set_set(snapshot.set());
  out.set_limit(snapshot.limit);
  out.set_permits_held(snapshot.permits_held);
  out.mutable_holders()->Reserve(static_cast<int>(snapshot.holders.size()));
  for (const HolderSnapshot& holder : snapshot.holders) {
    v1::Holder* h = out.add_holders();
    h->set_session_id(FormatSessionId(holder.session_id));
    h->set_client_name(holder.client_name);
    *h->mutable_grant() = ToGrant(holder.grant);
  }
  out.set_waiter_count(snapshot.waiter_count);
  out.set_holder_count(snapshot.holder_count);
  return out;
}

v1::SetSemaphoreResponse ToSetSemaphoreResponse(const SetOutcome& outcome) {
  v1::SetSemaphoreResponse out;
  out.set_acquired(outcome.acquired);
  out.set_already_held(outcome.already_held);
  if (outcome.acquired) {
    *out.mutable_grant() = ToGrant(outcome.grant);
  } else {
    *out.mutable_state() = ToSemaphoreState(outcome.state);
  }
  return out;
}

v1::WaitSemaphoreClearResponse ToWaitSemaphoreClearResponse(
    const WaitClearOutcome& outcome) {
  v1::WaitSemaphoreClearResponse out;
  out.set_clear(outcome.clear);
  *out.mutable_state() = ToSemaphoreState(outcome.state);
  return out;
}

}  // namespace semaphored::server
