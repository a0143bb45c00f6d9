#ifndef SEMAPHORED_TESTS_FUZZ_TEXT_CHECKS_H_
#define SEMAPHORED_TESTS_FUZZ_TEXT_CHECKS_H_

// Independent checks of text rules, for fuzz oracles. Written from the Unicode
// standard's table of well-formed UTF-8 byte sequences (Unicode 15, table 3-7) rather
// than by decoding, so that they do not share a mistake with common/names.cc.

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace semaphored::fuzz {

// True when `s` is well-formed UTF-8: no overlong forms, no surrogates, nothing above
// U+10FFFF, no truncated sequence.
inline bool IsWellFormedUtf8(absl::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  auto at = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  auto in = [](uint8_t b, uint8_t lo, uint8_t hi) { return b >= lo && b <= hi; };
  while (i < n) {
    const uint8_t b0 = at(i);
    if (b0 <= 0x7F) {
      ++i;
      continue;
    }
    // Table 3-7: first byte, then the allowed range of the second byte; later bytes
    // are always 80..BF.
    size_t len = 0;
    uint8_t lo = 0x80, hi = 0xBF;
    if (in(b0, 0xC2, 0xDF)) {
      len = 2;
    } else if (b0 == 0xE0) {
      len = 3, lo = 0xA0;
    } else if (in(b0, 0xE1, 0xEC) || in(b0, 0xEE, 0xEF)) {
      len = 3;
    } else if (b0 == 0xED) {
      len = 3, hi = 0x9F;
    } else if (b0 == 0xF0) {
      len = 4, lo = 0x90;
    } else if (in(b0, 0xF1, 0xF3)) {
      len = 4;
    } else if (b0 == 0xF4) {
      len = 4, hi = 0x8F;
    } else {
      return false;
    }
    if (n - i < len || !in(at(i + 1), lo, hi)) return false;
    for (size_t k = 2; k < len; ++k) {
      if (!in(at(i + k), 0x80, 0xBF)) return false;
    }
    i += len;
  }
  return true;
}

// True when well-formed UTF-8 `s` holds a C0 control, DEL or a C1 control (U+0080 to
// U+009F, encoded C2 80 to C2 9F).
inline bool HasControl(absl::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const auto b = static_cast<uint8_t>(s[i]);
    if (b < 0x20 || b == 0x7F) return true;
    if (b == 0xC2 && i + 1 < s.size() && static_cast<uint8_t>(s[i + 1]) <= 0x9F) {
      return true;
    }
  }
  return false;
}

// Printable text: well-formed UTF-8 without control characters.
inline bool IsPrintableText(absl::string_view s) {
  return IsWellFormedUtf8(s) && !HasControl(s);
}

}  // namespace semaphored::fuzz

#endif  // SEMAPHORED_TESTS_FUZZ_TEXT_CHECKS_H_
