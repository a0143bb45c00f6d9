// Name rules (semaphores, client names, free text) and how messages quote names.

#include "common/names.h"

#include <algorithm>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace semaphored::internal {
namespace {

// Returns the byte offset of the first invalid UTF-8 sequence, or npos. Rejects
// overlong encodings, surrogates and code points above U+10FFFF.
size_t FindInvalidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return i;
    }
    if (i + len > s.size()) return i;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3F);
    }
    const bool overlong = (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
                          (len == 4 && cp < 0x10000);
    if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return absl::string_view::npos;
}

// Returns the byte offset of the first control character (C0, DEL or C1), or npos.
// Assumes valid UTF-8.
size_t FindControl(absl::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) return i;
    // C1 controls U+0080..U+009F are encoded as C2 80..C2 9F.
    if (c == 0xC2 && i + 1 < s.size()) {
      const auto next = static_cast<unsigned char>(s[i + 1]);
      if (next >= 0x80 && next <= 0x9F) return i;
    }
  }
  return absl::string_view::npos;
}

absl::Status CheckText(absl::string_view what, absl::string_view s, size_t max_bytes,
                       bool allow_empty) {
  if (s.empty() && !allow_empty) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is empty; it must be 1 to ", max_bytes, " bytes"));
  }
  if (s.size() > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is ", s.size(), " bytes long; the limit is ", max_bytes,
                     " bytes (names are never truncated)"));
  }
  // Most names are printable ASCII, which is valid UTF-8 without control characters.
  if (std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7F; })) {
    return absl::OkStatus();
  }
  if (size_t at = FindInvalidUtf8(s); at != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " is not valid UTF-8 (bad byte sequence at offset ", at, ")"));
  }
  if (size_t at = FindControl(s); at != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " contains a control character at offset ", at, "; they are not allowed"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateName(absl::string_view name) {
  return CheckText("semaphore name", name, kMaxNameBytes, /*allow_empty=*/false);
}

absl::Status ValidateGlobalName(absl::string_view name) {
  if (absl::Status s = ValidateName(name); !s.ok()) return s;
  if (IsLocalName(name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "semaphore name ", QuoteName(name),
        " starts with '$', which marks a local semaphore: local semaphores live in "
        "the client process and are never sent to the server"));
  }
  return absl::OkStatus();
}

absl::Status ValidateClientName(absl::string_view name) {
  return CheckText("client name", name, kMaxClientNameBytes, /*allow_empty=*/true);
}

absl::Status ValidateText(absl::string_view what, absl::string_view text, size_t max_bytes) {
  return CheckText(what, text, max_bytes, /*allow_empty=*/true);
}

std::string QuoteName(absl::string_view name) {
  constexpr size_t kShown = 64;
  size_t cut = std::min(name.size(), kShown);
  // Do not cut a UTF-8 sequence in half.
  while (cut < name.size() && cut > 0 &&
         (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80) {
    --cut;
  }
  std::string shown = absl::Utf8SafeCHexEscape(name.substr(0, cut));
  if (name.size() > kShown) absl::StrAppend(&shown, "...");
  return absl::StrCat("\"", shown, "\"");
}

}  // namespace semaphored::internal
