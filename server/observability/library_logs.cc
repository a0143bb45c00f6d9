// Routes libprotobuf's and gRPC core's own log lines through a Logger.

#include "server/observability/library_logs.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "google/protobuf/stubs/logging.h"
#include "grpc/support/log.h"

namespace semaphored::server {
namespace {

constexpr size_t kMaxMessageBytes = 512;

std::atomic<const Logger*> g_logger{nullptr};

// A fixed window of kLibraryLogBurst lines per kLibraryLogWindow for one library.
class RateLimit {
 public:
  // Whether a line may be written now; when it may, `*suppressed` is how many were
  // dropped since the last one written.
  bool Admit(int64_t* suppressed) ABSL_LOCKS_EXCLUDED(mu_) {
    const absl::Time now = absl::Now();
    absl::MutexLock lock(&mu_);
    if (now - window_start_ >= kLibraryLogWindow) {
      window_start_ = now;
      in_window_ = 0;
    }
    if (in_window_ >= kLibraryLogBurst) {
      ++dropped_;
      return false;
    }
    ++in_window_;
    *suppressed = dropped_;
    dropped_ = 0;
    return true;
  }

 private:
  absl::Mutex mu_;
  // State below is protected by mu_.
  absl::Time window_start_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int in_window_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
};

RateLimit& ProtobufLimit() {
  static RateLimit* limit = new RateLimit;
  return *limit;
}
RateLimit& GrpcLimit() {
  static RateLimit* limit = new RateLimit;
  return *limit;
}

void Route(RateLimit& limit, absl::string_view event, LogLevel level, const char* file,
           int line, absl::string_view message) {
  const Logger* logger = g_logger.load(std::memory_order_acquire);
  if (logger == nullptr) return;
  int64_t suppressed = 0;
  if (!limit.Admit(&suppressed)) return;
  // Trailing newlines belong to the libraries' own formatting.
  while (!message.empty() && (message.back() == '\n' || message.back() == '\r')) {
    message.remove_suffix(1);
  }
  if (message.size() > kMaxMessageBytes) message = message.substr(0, kMaxMessageBytes);
  absl::string_view where = file != nullptr ? file : "";
  // The path inside the library's source tree says enough.
  if (const size_t slash = where.rfind('/'); slash != absl::string_view::npos) {
    where.remove_prefix(slash + 1);
  }
  if (suppressed > 0) {
    logger->Log(level, event,
                {{"message", message}, {"file", where}, {"line", line},
                 {"suppressed", suppressed}});
  } else {
    logger->Log(level, event, {{"message", message}, {"file", where}, {"line", line}});
  }
}

void ProtobufHandler(google::protobuf::LogLevel severity, const char* file, int line,
                     const std::string& message) {
  LogLevel level = LogLevel::kError;
  switch (severity) {
    case google::protobuf::LOGLEVEL_INFO:
      level = LogLevel::kInfo;
      break;
    case google::protobuf::LOGLEVEL_WARNING:
      level = LogLevel::kWarn;
      break;
    default:
      break;
  }
  Route(ProtobufLimit(), "protobuf_log", level, file, line, message);
}

void GrpcHandler(gpr_log_func_args* args) {
  LogLevel level = LogLevel::kError;
  if (args->severity == GPR_LOG_SEVERITY_DEBUG) level = LogLevel::kDebug;
  if (args->severity == GPR_LOG_SEVERITY_INFO) level = LogLevel::kInfo;
  Route(GrpcLimit(), "grpc_log", level, args->file, args->line,
        args->message != nullptr ? args->message : "");
}

}  // namespace

void RouteLibraryLogs(const Logger* logger) {
  g_logger.store(logger, std::memory_order_release);
  static const bool installed = [] {
    google::protobuf::SetLogHandler(&ProtobufHandler);
    gpr_set_log_function(&GrpcHandler);
    if (std::getenv("GRPC_VERBOSITY") == nullptr) {
      gpr_set_log_verbosity(GPR_LOG_SEVERITY_ERROR);
    }
    return true;
  }();
  (void)installed;
}

}  // namespace semaphored::server
