// ServerTelemetry: the core's and the services' events become metrics and log lines.

#include "server/server_telemetry.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/clock.h"
#include "tests/server/log_capture.h"

using ::semaphored::engine::CoreListener;
using ::semaphored::engine::NewSession;
using ::semaphored::engine::SessionEnd;
using ::semaphored::engine::SessionEndReason;

namespace semaphored::server::testing {

using ::semaphored::internal::FakeClock;
using ::semaphored::internal::SessionId;
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

class ServerTelemetryTest : public ::testing::Test {
 protected:
  FakeClock clock_{absl::FromUnixMillis(1795428000123)};
  CapturingLogSink sink_;
  Logger logger_{LoggerOptions{LogFormat::kText, LogLevel::kInfo, &sink_, &clock_}};
  Metrics metrics_;
  ServerTelemetry observer_{&metrics_, &logger_};
};

TEST_F(ServerTelemetryTest, EverySessionEndIsLoggedAndCounted) {
  const SessionEndReason reasons[] = {SessionEndReason::kClosed, SessionEndReason::kExpired,
                                      SessionEndReason::kAdmin,
                                      SessionEndReason::kStreamEnded,
                                      SessionEndReason::kDrain};
  SessionId id = 0x10;
  for (SessionEndReason reason : reasons) {
    observer_.OnSessionEnded(SessionEnd{id++, "job", reason, 1});
  }
  const std::string prefix = "2026-11-23T10:00:00.123Z ";
  EXPECT_THAT(sink_.Lines(),
              ElementsAre(prefix + "INFO session_end session=0000000000000010 client=job "
                                   "reason=closed released=1\n",
                          prefix + "WARN session_end session=0000000000000011 client=job "
                                   "reason=expired released=1\n",
                          prefix + "INFO session_end session=0000000000000012 client=job "
                                   "reason=admin released=1\n",
                          prefix + "INFO session_end session=0000000000000013 client=job "
                                   "reason=stream_ended released=1\n",
                          prefix + "INFO session_end session=0000000000000014 client=job "
                                   "reason=drain released=1\n"));
  const std::string text = metrics_.Render();
  EXPECT_THAT(text, HasSubstr("semaphored_sessions_ended_total{reason=\"expired\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("semaphored_sessions_ended_total{reason=\"closed\"} 4\n"));
}

TEST_F(ServerTelemetryTest, ServiceEventsReachMetricsAndLog) {
  NewSession session;
  session.id = 0xabc;
  session.ttl = absl::Seconds(30);
  observer_.OnSessionCreated(session, "worker 7", "ipv4:127.0.0.1:9");
  observer_.OnRequest("SetSemaphore");
  observer_.OnRequest("SetSemaphore");
  observer_.OnError(absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(sink_.Lines(),
              ElementsAre("2026-11-23T10:00:00.123Z INFO session_start "
                          "session=0000000000000abc client=\"worker 7\" "
                          "peer=ipv4:127.0.0.1:9 ttl=30s\n"));
  const std::string text = metrics_.Render();
  EXPECT_THAT(text, HasSubstr("semaphored_sessions_created_total 1\n"));
  EXPECT_THAT(text, HasSubstr("semaphored_requests_total{method=\"SetSemaphore\"} 2\n"));
  EXPECT_THAT(text, HasSubstr(
                        "semaphored_rejected_requests_total{code=\"PERMISSION_DENIED\"} 1\n"));
}

TEST_F(ServerTelemetryTest, CoreEventsReachMetrics) {
  CoreListener& listener = observer_;
  listener.OnGrant(absl::Milliseconds(20));
  listener.OnRelease(absl::Seconds(2));
  listener.OnWaitTimeout();
  listener.OnForceClear();
  const std::string text = metrics_.Render();
  EXPECT_THAT(text, HasSubstr("semaphored_grants_total 1\n"));
  EXPECT_THAT(text, HasSubstr("semaphored_wait_timeouts_total 1\n"));
  EXPECT_THAT(text, HasSubstr("semaphored_force_clears_total 1\n"));
  EXPECT_THAT(text, HasSubstr("semaphored_acquire_wait_seconds_count 1\n"));
  EXPECT_THAT(text, HasSubstr("semaphored_hold_seconds_count 1\n"));
  EXPECT_THAT(sink_.Lines(), SizeIs(0));
}

}  // namespace
}  // namespace semaphored::server::testing
