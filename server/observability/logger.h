#ifndef SEMAPHORED_SERVER_OBSERVABILITY_LOGGER_H_
#define SEMAPHORED_SERVER_OBSERVABILITY_LOGGER_H_

#include <initializer_list>
#include <string>
#include <type_traits>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/clock.h"

namespace semaphored::server {

enum class LogLevel { kDebug, kInfo, kWarn, kError };
// "DEBUG", "INFO", "WARN", "ERROR".
absl::string_view LogLevelName(LogLevel level);

// The --log-format flag's values: "text" (one human-readable line per event) or
// "json" (one JSON object per line).
enum class LogFormat { kText, kJson };
// For ABSL_FLAG(LogFormat, ...): accepts "text" and "json".
bool AbslParseFlag(absl::string_view text, LogFormat* format, std::string* error);
std::string AbslUnparseFlag(LogFormat format);

// One key=value of a log line. Keys are short constants in snake_case; "ts", "level"
// and "event" are taken. Values are strings, integers, booleans or durations
// (formatted like "1.5s"); in JSON, integers and booleans are JSON numbers and
// booleans, everything else a string.
class LogField {
 public:
  enum class Kind { kString, kNumber, kBool };

  LogField(absl::string_view key, absl::string_view value)
      : key_(key), value_(value), kind_(Kind::kString) {}
  // Without it, a string literal would convert to bool.
  LogField(absl::string_view key, const char* value)
      : LogField(key, absl::string_view(value)) {}
  LogField(absl::string_view key, bool value)
      : key_(key), value_(value ? "true" : "false"), kind_(Kind::kBool) {}
  template <typename T,
            std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool> &&
                                 !std::is_same_v<T, char>,
                             int> = 0>
  LogField(absl::string_view key, T value)
      : key_(key), value_(absl::StrCat(value)), kind_(Kind::kNumber) {}
  LogField(absl::string_view key, absl::Duration value)
      : key_(key), value_(absl::FormatDuration(value)), kind_(Kind::kString) {}

  const std::string& key() const { return key_; }
  const std::string& value() const { return value_; }
  Kind kind() const { return kind_; }

 private:
  std::string key_;
  std::string value_;
  Kind kind_;
};

// Where log lines go. Write() gets one whole line, '\n' included, and is never called
// concurrently by one Logger.
class LogSink {
 public:
  virtual ~LogSink() = default;
  virtual void Write(absl::string_view line) = 0;
};

// Writes each line to a file descriptor with a single write(2) (retried only for
// the rest of a partial write), so lines from several threads or processes sharing
// the descriptor do not interleave. Errors are ignored: logging never fails a caller.
class FdLogSink final : public LogSink {
 public:
  explicit FdLogSink(int fd) : fd_(fd) {}
  void Write(absl::string_view line) override;
  // A process-wide sink on stderr; never destroyed.
  static FdLogSink* Stderr();

 private:
  const int fd_;
};

struct LoggerOptions {
  LogFormat format = LogFormat::kText;
  LogLevel min_level = LogLevel::kInfo;  // lines below it are dropped
  LogSink* sink = nullptr;               // nullptr: stderr. Not owned; must outlive.
  const internal::Clock* clock = nullptr;          // nullptr: the real clock. Not owned.
};

// Structured log lines, one per event:
//   text: 2026-11-23T10:00:00.123Z INFO session_start session=0123abcd01234567 client="x y"
//   json: {"ts":"2026-11-23T10:00:00.123Z","level":"INFO","event":"session_start",...}
// Text values are bare when IsBareWord (log_format.h), else quoted and escaped as JSON
// strings. Thread-safe: each line reaches the sink whole, in one Write() call.
class Logger {
 public:
  explicit Logger(LoggerOptions options = {});
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  // Writes one line for `event` (a snake_case constant) with `fields` in order.
  void Log(LogLevel level, absl::string_view event,
           std::initializer_list<LogField> fields = {}) const ABSL_LOCKS_EXCLUDED(mu_);
  void Log(LogLevel level, absl::string_view event, absl::Span<const LogField> fields) const
      ABSL_LOCKS_EXCLUDED(mu_);

  LogFormat format() const { return options_.format; }

  // The line Log() would write at time `t`, '\n' included.
  static std::string FormatLine(LogFormat format, absl::Time t, LogLevel level,
                                absl::string_view event, absl::Span<const LogField> fields);

 private:
  const LoggerOptions options_;
  mutable absl::Mutex mu_;  // serializes sink writes
};

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_OBSERVABILITY_LOGGER_H_
