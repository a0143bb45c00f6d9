#ifndef SEMAPHORED_ENGINE_REQUEST_CHECKS_H_
#define SEMAPHORED_ENGINE_REQUEST_CHECKS_H_

// The one place where the arguments of set, wait-for-clear and session requests are
// checked, whoever sends them (the server for global names, the client library for
// local '$' names): the engine's operations call these, so that the same bad argument
// gets the same INVALID_ARGUMENT message on both sides. Names are not checked here
// (the edges check them: common/names.h). Each rule has one message, which names the
// argument, its value and the semaphore, and says what is allowed:
//
//   limit outside 1..kMaxLimit    limit 0 for semaphore "s" is out of range: the limit
//                                 must be 1 to 1000000
//   permits outside 1..kMaxLimit  permits 0 for semaphore "s" is out of range: it must
//                                 be at least 1 and at most 1000000
//   permits above the limit       permits 3 for semaphore "s" is more than its limit 2:
//                                 ask for at most the limit
//   negative timeout              timeout -1s for semaphore "s" is negative: it must be
//                                 0 to 24h, or infinite to wait without a limit
//   timeout above kMaxWait        timeout 25h for semaphore "s" is out of range: it
//                                 must be 0 to 24h, or infinite to wait without a limit
//   negative session TTL          ttl -1s is negative: give a positive session TTL, or
//                                 leave it unset for the server's default
//   TTL outside the server range  session TTL 2h is outside this server's range 1s to 1h

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/types.h"

namespace semaphored::engine {

// Checks what a set request can be checked for without the semaphore: the limit and
// permits ranges, permits at most the request's own limit, and the wait.
absl::Status CheckSetArgs(const SetArgs& args);
// Checks the wait of a wait-for-clear request.
absl::Status CheckWaitClearArgs(const WaitClearArgs& args);
// Permits at most `limit`: the request's limit or, when it gives none, the existing
// semaphore's (or 1 for a new one).
absl::Status CheckPermitsWithinLimit(absl::string_view name, int32_t permits,
                                     int32_t limit);

// A session TTL must not be negative (zero asks for the default).
absl::Status CheckTtlNotNegative(absl::Duration ttl);
// A session TTL (after the default is applied) within [min_ttl, max_ttl].
absl::Status CheckTtlInRange(absl::Duration ttl, absl::Duration min_ttl,
                             absl::Duration max_ttl);

// When a checked wait ends, by the engine's clock reading `now`: `deadline` when it
// waits indefinitely (or its timeout is infinite); absl::InfinitePast() (try once)
// for a zero timeout, whatever the deadline; else min(now + timeout, deadline). A
// result not after `now` means "try once".
absl::Time WaitEnd(const WaitLimit& wait, absl::Time now);

}  // namespace semaphored::engine

#endif  // SEMAPHORED_ENGINE_REQUEST_CHECKS_H_
