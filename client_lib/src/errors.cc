// The library's own errors (lost, closed, no server, released, revoked) and the
// checks of call arguments the library makes before sending.

#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "errors_internal.h"
#include "semaphored/errors.h"

namespace semaphored {
namespace {
constexpr char kSessionLostUrl[] = "type.semaphored.dev/semaphored.SessionLost";
}  // namespace

bool IsSessionLost(const absl::Status& status) {
  return !status.ok() && status.GetPayload(kSessionLostUrl).has_value();
}

namespace internal {

absl::Status SessionLostError(absl::Status status) {
  if (status.ok()) status = absl::UnknownError("session lost");
  status.SetPayload(kSessionLostUrl, absl::Cord("lost"));
  return status;
}

absl::Status SessionClosedError(absl::string_view session_id) {
  return absl::FailedPreconditionError(absl::StrCat(
      "session ", session_id, " was closed; open a new session to go on"));
}

absl::Status NoServerError(absl::string_view name) {
  return absl::FailedPreconditionError(absl::StrCat(
      "semaphore ", QuoteName(name),
      " is global, but this client has no server (Client::Local); connect to a "
      "server, or use a '$' name for a semaphore local to this process"));
}

absl::Status NotAcquiredError(absl::string_view name, const SemaphoreInfo& state) {
  if (name.empty()) {
    return absl::FailedPreconditionError("empty permit: nothing was acquired");
  }
  std::string holder = "another session";
  if (!state.holders.empty()) {
    const ::semaphored::HolderInfo& h = state.holders.front();
    holder = absl::StrCat("session ", h.session_id, " (client \"", h.client_name,
                          "\") since ", absl::FormatTime(h.since));
    const int64_t holders = std::max<int64_t>(state.holder_count, state.holders.size());
    if (holders > 1) absl::StrAppend(&holder, " and ", holders - 1, " more");
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "semaphore ", QuoteName(name), " was not acquired: it is set by ", holder));
}

absl::Status ReleasedError(absl::string_view name) {
  return absl::FailedPreconditionError(
      absl::StrCat("semaphore ", QuoteName(name), " was released"));
}

absl::Status RevokedError(absl::string_view name, absl::string_view reason) {
  return absl::AbortedError(absl::StrCat("semaphore ", QuoteName(name),
                                         " was revoked: ", reason));
}

}  // namespace internal
}  // namespace semaphored
