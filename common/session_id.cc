// Session ids as text: 16 lowercase hex digits.

#include "common/session_id.h"

#include <cstdio>

#include "absl/strings/numbers.h"

namespace semaphored::internal {

std::string FormatSessionId(SessionId id) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
  return buf;
}

std::optional<SessionId> ParseSessionId(absl::string_view text) {
  if (text.size() != 16) return std::nullopt;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  }
  uint64_t id = 0;
  if (!absl::SimpleHexAtoi(text, &id)) return std::nullopt;
  return id;
}

}  // namespace semaphored::internal
