#ifndef SEMAPHORED_CLIENT_LIB_SRC_ERRORS_INTERNAL_H_
#define SEMAPHORED_CLIENT_LIB_SRC_ERRORS_INTERNAL_H_

#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "semaphored/types.h"
#include "common/clock.h"

// The errors the library makes itself (server errors pass through unchanged).
namespace semaphored::internal {

// `status` marked as the error of a lost session (see IsSessionLost).
absl::Status SessionLostError(absl::Status status);
// FAILED_PRECONDITION: the session was closed by the application.
absl::Status SessionClosedError(absl::string_view session_id);
// FAILED_PRECONDITION: a global name on a client without a server.
absl::Status NoServerError(absl::string_view name);
// FAILED_PRECONDITION: an acquire did not get `name`; names who holds it.
absl::Status NotAcquiredError(absl::string_view name, const SemaphoreInfo& state);
// FAILED_PRECONDITION: the grant was released.
absl::Status ReleasedError(absl::string_view name);
// ABORTED: the grant was revoked by an operator.
absl::Status RevokedError(absl::string_view name, absl::string_view reason);

}  // namespace semaphored::internal

#endif  // SEMAPHORED_CLIENT_LIB_SRC_ERRORS_INTERNAL_H_
