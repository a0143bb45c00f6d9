#ifndef SEMAPHORED_SERVER_OBSERVABILITY_LOG_FORMAT_H_
#define SEMAPHORED_SERVER_OBSERVABILITY_LOG_FORMAT_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

// Text building blocks of log lines. Pure functions, thread-safe.
namespace semaphored::server {

// Appends `text` as a JSON string literal, quotes included: `"` and `\` escaped,
// \n \r \t by name, other control characters (and DEL) as \u00XX, valid UTF-8 kept
// as is, and each byte of invalid UTF-8 replaced by \ufffd, so that the result is
// always valid JSON.
void AppendJsonString(absl::string_view text, std::string* out);

// True when `text` can appear unquoted as a text-format value: non-empty and made of
// ASCII letters, digits and - . _ : / @ + [ ] , only.
bool IsBareWord(absl::string_view text);

// Appends `text` unquoted when IsBareWord, else as a JSON string literal.
void AppendTextValue(absl::string_view text, std::string* out);

// RFC 3339 in UTC with milliseconds: 2026-11-23T10:00:00.123Z.
std::string FormatLogTime(absl::Time t);

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_OBSERVABILITY_LOG_FORMAT_H_
