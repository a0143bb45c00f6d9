#ifndef SEMAPHORED_ERRORS_H_
#define SEMAPHORED_ERRORS_H_

// How the client library reports errors.
//
// Every call returns absl::Status or absl::StatusOr. The codes:
//   INVALID_ARGUMENT     a bad name (says which rule it breaks), permits < 1, a limit
//                        outside 1..1,000,000, permits above the limit, a negative
//                        timeout or one above 24 hours
//   FAILED_PRECONDITION  the semaphore exists with another limit (both numbers are
//                        given); a call on a session that was closed; a global name
//                        on a client without a server (Client::Local)
//   PERMISSION_DENIED    clearing a semaphore held by another session (names it)
//   NOT_FOUND            clearing a semaphore that is not set
//   RESOURCE_EXHAUSTED   a server or local limit (sessions, held semaphores, waiters)
//   CANCELLED            a wait cancelled through its CancelToken
//   ABORTED              (Permit::status) the semaphore was revoked by an operator
//   UNAVAILABLE          cannot connect to the server, or the server is shutting down
//   UNAUTHENTICATED      the server no longer knows the session (expired or ended)
// A try or a timed wait that did not get the semaphore is NOT an error: it is an OK
// answer that says "not acquired" and who holds it.
//
// Thread-safe (pure functions).

#include "absl/status/status.h"
#include "semaphored/export.h"

namespace semaphored {

// True when `status` is the error of a lost session: the server ended the session
// (expired, closed by an administrator, server shutting down) or the connection it
// lived on broke. The session is gone for good and everything it held on the server
// is released; open a new session to go on. Errors of a session closed by the
// application itself (Session::Close) are not "lost".
SEMAPHORED_EXPORT bool IsSessionLost(const absl::Status& status);

}  // namespace semaphored

#endif  // SEMAPHORED_ERRORS_H_
