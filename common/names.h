#ifndef SEMAPHORED_COMMON_NAMES_H_
#define SEMAPHORED_COMMON_NAMES_H_

#include <cstddef>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"

namespace semaphored::internal {

inline constexpr size_t kMaxNameBytes = 255;
inline constexpr size_t kMaxClientNameBytes = 255;

// True for names of local semaphores ("$..."), which never reach the server.
inline bool IsLocalName(absl::string_view name) {
  return !name.empty() && name.front() == '$';
}

// Checks a semaphore name: 1 to 255 bytes of valid UTF-8 without control characters.
// Returns INVALID_ARGUMENT saying which rule was broken (and where), else OK.
absl::Status ValidateName(absl::string_view name);

// As ValidateName, and also rejects '$' names: a '$' name at the server is a client
// bug, since local semaphores never leave the client process.
absl::Status ValidateGlobalName(absl::string_view name);

// Checks a client name: 0 to 255 bytes of valid UTF-8 without control characters.
absl::Status ValidateClientName(absl::string_view name);

// Checks free text (what: its name in the message, e.g. "reason"): at most
// `max_bytes` bytes of valid UTF-8 without control characters; may be empty.
absl::Status ValidateText(absl::string_view what, absl::string_view text, size_t max_bytes);

// Quotes a name for error messages: printable, escaped, at most ~64 characters shown.
std::string QuoteName(absl::string_view name);

}  // namespace semaphored::internal

#endif  // SEMAPHORED_COMMON_NAMES_H_
