// Tests of the server's event log lines for sessions and administrative actions.

#include "server/observability/server_events.h"

#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace semaphored::server {

using ::semaphored::internal::FakeClock;
using ::semaphored::internal::SessionId;

using engine::HolderSnapshot;
using engine::SessionEndReason;

namespace {

using ::testing::ElementsAre;

class CaptureSink : public LogSink {
 public:
  void Write(absl::string_view line) override {
    absl::MutexLock lock(&mu_);
    lines_.emplace_back(line);
  }
  std::vector<std::string> lines() const {
    absl::MutexLock lock(&mu_);
    return lines_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

class ServerEventsTest : public ::testing::Test {
 protected:
  FakeClock clock_{absl::FromUnixMillis(1795428000123)};
  CaptureSink sink_;
};

constexpr SessionId kId = 0x0123abcd01234567;

TEST_F(ServerEventsTest, SessionLinesInText) {
  LoggerOptions options;
  options.sink = &sink_;
  options.clock = &clock_;
  Logger logger(options);
  LogSessionStart(logger, kId, "nightly job", "ipv4:10.0.0.7:41000", absl::Seconds(10));
  LogSessionEnd(logger, kId, "nightly job", SessionEndReason::kClosed, 2);
  LogSessionEnd(logger, kId, "nightly job", SessionEndReason::kExpired);
  EXPECT_THAT(
      sink_.lines(),
      ElementsAre("2026-11-23T10:00:00.123Z INFO session_start session=0123abcd01234567 "
                  "client=\"nightly job\" peer=ipv4:10.0.0.7:41000 ttl=10s\n",
                  "2026-11-23T10:00:00.123Z INFO session_end session=0123abcd01234567 "
                  "client=\"nightly job\" reason=closed released=2\n",
                  "2026-11-23T10:00:00.123Z WARN session_end session=0123abcd01234567 "
                  "client=\"nightly job\" reason=expired\n"));
}

TEST_F(ServerEventsTest, EveryEndReasonHasItsName) {
  EXPECT_EQ(SessionEndReasonName(SessionEndReason::kClosed), "closed");
  EXPECT_EQ(SessionEndReasonName(SessionEndReason::kExpired), "expired");
  EXPECT_EQ(SessionEndReasonName(SessionEndReason::kAdmin), "admin");
  EXPECT_EQ(SessionEndReasonName(SessionEndReason::kStreamEnded), "stream_ended");
  EXPECT_EQ(SessionEndReasonName(SessionEndReason::kDrain), "drain");
}

TEST_F(ServerEventsTest, AdminLinesInJson) {
  LoggerOptions options;
  options.format = LogFormat::kJson;
  options.sink = &sink_;
  options.clock = &clock_;
  Logger logger(options);
  HolderSnapshot h1, h2;
  h1.session_id = kId;
  h2.session_id = 2;
  const std::vector<HolderSnapshot> holders = {h1, h2};
  LogAdminForceClear(logger, "ipv4:127.0.0.1:5", "stuck \"job\"", "db/backup", holders);
  LogAdminEndSession(logger, "ipv4:127.0.0.1:5", "cleanup", kId, 4);
  LogAdminDrain(logger, "ipv4:127.0.0.1:5", "upgrade");
  LogDrain(logger, "signal", 3, 2);
  const std::string ts = "{\"ts\":\"2026-11-23T10:00:00.123Z\",\"level\":\"INFO\",";
  EXPECT_THAT(
      sink_.lines(),
      ElementsAre(ts + "\"event\":\"admin_force_clear\",\"name\":\"db/backup\","
                       "\"holders\":\"0123abcd01234567,0000000000000002\","
                       "\"by\":\"ipv4:127.0.0.1:5\",\"why\":\"stuck \\\"job\\\"\"}\n",
                  ts + "\"event\":\"admin_end_session\",\"session\":\"0123abcd01234567\","
                       "\"released\":4,\"by\":\"ipv4:127.0.0.1:5\",\"why\":\"cleanup\"}\n",
                  ts + "\"event\":\"admin_drain\",\"by\":\"ipv4:127.0.0.1:5\","
                       "\"why\":\"upgrade\"}\n",
                  ts + "\"event\":\"drain\",\"trigger\":\"signal\",\"woken_waiters\":3,"
                       "\"ended_sessions\":2}\n"));
}

TEST_F(ServerEventsTest, AdminRefusalsInText) {
  LoggerOptions options;
  options.sink = &sink_;
  options.clock = &clock_;
  Logger logger(options);
  LogAdminRefused(logger, "list_sessions", "ipv4:10.0.0.9:7", "", "",
                  absl::UnauthenticatedError("no token"));
  LogAdminRefused(logger, "force_clear", "ipv4:127.0.0.1:5", "stuck job", "db/backup",
                  absl::NotFoundError("semaphore \"db/backup\" is not set"));
  EXPECT_THAT(
      sink_.lines(),
      ElementsAre("2026-11-23T10:00:00.123Z WARN admin_refused action=list_sessions "
                  "by=ipv4:10.0.0.9:7 code=UNAUTHENTICATED error=\"no token\"\n",
                  "2026-11-23T10:00:00.123Z WARN admin_refused action=force_clear "
                  "target=db/backup by=ipv4:127.0.0.1:5 why=\"stuck job\" code=NOT_FOUND "
                  "error=\"semaphore \\\"db/backup\\\" is not set\"\n"));
}

}  // namespace
}  // namespace semaphored::server
