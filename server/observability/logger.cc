// The server's structured logger: levels, text or JSON lines, one write each.

#include "server/observability/logger.h"

#include <unistd.h>

#include <cerrno>

#include "server/observability/log_format.h"

namespace semaphored::server {

absl::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "DEBUG";
    case LogLevel::kInfo: return "INFO";
    case LogLevel::kWarn: return "WARN";
    case LogLevel::kError: return "ERROR";
  }
  return "INFO";
}

bool AbslParseFlag(absl::string_view text, LogFormat* format, std::string* error) {
  if (text == "text") {
    *format = LogFormat::kText;
    return true;
  }
  if (text == "json") {
    *format = LogFormat::kJson;
    return true;
  }
  *error = absl::StrCat("unknown log format \"", text, "\": use text or json");
  return false;
}

std::string AbslUnparseFlag(LogFormat format) {
  return format == LogFormat::kJson ? "json" : "text";
}

void FdLogSink::Write(absl::string_view line) {
  const char* data = line.data();
  size_t left = line.size();
  // Bounded: every pass writes at least one byte or gives up.
  while (left > 0) {
    const ssize_t n = ::write(fd_, data, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data += n;
    left -= static_cast<size_t>(n);
  }
}

FdLogSink* FdLogSink::Stderr() {
  static FdLogSink* sink = new FdLogSink(STDERR_FILENO);
  return sink;
}

Logger::Logger(LoggerOptions options) : options_(options) {}

void Logger::Log(LogLevel level, absl::string_view event,
                 std::initializer_list<LogField> fields) const {
  Log(level, event, absl::Span<const LogField>(fields.begin(), fields.size()));
}

void Logger::Log(LogLevel level, absl::string_view event,
                 absl::Span<const LogField> fields) const {
  if (level < options_.min_level) return;
  const absl::Time now = options_.clock ? options_.clock->Now() : absl::Now();
  const std::string line = FormatLine(options_.format, now, level, event, fields);
  LogSink* sink = options_.sink ? options_.sink : FdLogSink::Stderr();
  absl::MutexLock lock(&mu_);
  sink->Write(line);
}

std::string Logger::FormatLine(LogFormat format, absl::Time t, LogLevel level,
                               absl::string_view event,
                               absl::Span<const LogField> fields) {
  std::string line;
  line.reserve(128);
  if (format == LogFormat::kText) {
    absl::StrAppend(&line, FormatLogTime(t), " ", LogLevelName(level), " ");
    AppendTextValue(event, &line);
    for (const LogField& f : fields) {
      line.push_back(' ');
      AppendTextValue(f.key(), &line);
      line.push_back('=');
      if (f.kind() == LogField::Kind::kString) {
        AppendTextValue(f.value(), &line);
      } else {
        line.append(f.value());
      }
    }
  } else {
    absl::StrAppend(&line, "{\"ts\":\"", FormatLogTime(t), "\",\"level\":\"",
                    LogLevelName(level), "\",\"event\":");
    AppendJsonString(event, &line);
    for (const LogField& f : fields) {
      line.push_back(',');
      AppendJsonString(f.key(), &line);
      line.push_back(':');
      if (f.kind() == LogField::Kind::kString) {
        AppendJsonString(f.value(), &line);
      } else {
        line.append(f.value());
      }
    }
    line.push_back('}');
  }
  line.push_back('\n');
  return line;
}

}  // namespace semaphored::server
