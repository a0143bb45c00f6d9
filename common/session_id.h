#ifndef SEMAPHORED_COMMON_SESSION_ID_H_
#define SEMAPHORED_COMMON_SESSION_ID_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

// Session ids as the engine, the server and the client library show them.
namespace semaphored::internal {

// The public identifier of a session (shown to others; grants nothing).
using SessionId = uint64_t;

// Formats a session id the way users see it: 16 lowercase hex digits.
std::string FormatSessionId(SessionId id);
// Parses FormatSessionId's output; nullopt for anything else.
std::optional<SessionId> ParseSessionId(absl::string_view text);

}  // namespace semaphored::internal

#endif  // SEMAPHORED_COMMON_SESSION_ID_H_
