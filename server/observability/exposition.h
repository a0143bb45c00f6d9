#ifndef SEMAPHORED_SERVER_OBSERVABILITY_EXPOSITION_H_
#define SEMAPHORED_SERVER_OBSERVABILITY_EXPOSITION_H_

#include <string>

#include "absl/strings/string_view.h"

// Pieces of the Prometheus text exposition format, version 0.0.4.
namespace semaphored::server {

// The Content-Type of a scrape answer.
inline constexpr char kExpositionContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// Appends "# HELP name help\n# TYPE name type\n", escaping `help` (\\ and \n).
void AppendHeader(absl::string_view name, absl::string_view help, absl::string_view type,
                  std::string* out);

// Escapes a label value: backslash, double quote and line feed.
std::string EscapeLabelValue(absl::string_view value);

// Formats a sample value: fixed notation, at most 9 decimals, no trailing zeros;
// "NaN", "+Inf" and "-Inf" for non-finite values.
std::string FormatDouble(double value);

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_OBSERVABILITY_EXPOSITION_H_
