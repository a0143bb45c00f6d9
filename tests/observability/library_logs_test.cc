// libprotobuf's and gRPC's own log lines come out as the Logger's structured lines,
// at most kLibraryLogBurst per window per library.

#include "server/observability/library_logs.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "google/protobuf/stubs/logging.h"
#include "grpc/support/log.h"
#include "gtest/gtest.h"
#include "tests/observability/json_check.h"

namespace semaphored::server {
namespace {

class CapturingSink final : public LogSink {
 public:
  void Write(absl::string_view line) override {
    absl::MutexLock lock(&mu_);
    lines_.emplace_back(line);
  }
  std::vector<std::string> Lines() {
    absl::MutexLock lock(&mu_);
    return lines_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

// One test: the routing and its rate limit are process-wide.
TEST(LibraryLogsTest, LinesBecomeStructuredAndAreRateLimitedPerLibrary) {
  CapturingSink sink;
  LoggerOptions options;
  options.format = LogFormat::kJson;
  options.sink = &sink;
  Logger logger(options);
  RouteLibraryLogs(&logger);
  for (int i = 0; i < kLibraryLogBurst + 5; ++i) {
    GOOGLE_LOG(ERROR) << "protobuf says \"" << i << "\"\n";
    gpr_log(GPR_ERROR, "grpc says %d", i);
  }
  gpr_log(GPR_DEBUG, "below gRPC's verbosity");
  RouteLibraryLogs(nullptr);
  GOOGLE_LOG(ERROR) << "dropped: no logger";

  int protobuf_lines = 0;
  int grpc_lines = 0;
  FlatJsonParser parser;
  for (const std::string& line : sink.Lines()) {
    SCOPED_TRACE(line);
    ASSERT_TRUE(parser.Parse(absl::StripSuffix(line, "\n")).has_value()) << parser.error();
    EXPECT_THAT(line, ::testing::HasSubstr("\"level\":\"ERROR\""));
    EXPECT_THAT(line, ::testing::HasSubstr("\"file\":\"library_logs_test.cc\""));
    if (absl::StrContains(line, "\"event\":\"protobuf_log\"")) {
      EXPECT_THAT(line, ::testing::HasSubstr("protobuf says \\\""));
      ++protobuf_lines;
    }
    if (absl::StrContains(line, "\"event\":\"grpc_log\"")) ++grpc_lines;
  }
  EXPECT_EQ(protobuf_lines, kLibraryLogBurst);
  EXPECT_EQ(grpc_lines, kLibraryLogBurst);
}

}  // namespace
}  // namespace semaphored::server
