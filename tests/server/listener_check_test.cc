// The listener self-check (server/listener_check.h): the probe tells an accepting
// gRPC listener (plaintext or TLS) from a bound port nobody accepts on, and the
// checker reports only failures in a row. Loopback only; every wait is bounded.

#include "server/listener_check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <deque>
#include <string>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/observability/library_logs.h"
#include "tests/common/status_matchers.h"
#include "tests/server/test_certs.h"
#include "tests/server/test_server.h"

namespace semaphored::server::testing {
namespace {

using ::semaphored::testing::IsOk;
using ::semaphored::testing::StatusIs;
using ::testing::HasSubstr;

// A socket bound to 127.0.0.1 on a free port; listening when `listen` (but never
// accepting). Closed on destruction.
class RawSocket {
 public:
  explicit RawSocket(bool listen) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    if (listen) {
      EXPECT_EQ(::listen(fd_, 16), 0);
    }
  }
  ~RawSocket() { ::close(fd_); }
  int port() const { return port_; }

 private:
  const int fd_;
  int port_ = 0;
};

TEST(ProbeListenerTest, SucceedsAgainstARunningServer) {
  TestServer server;
  EXPECT_THAT(ProbeListener("127.0.0.1", server.server().port(), /*tls=*/false,
                            absl::Seconds(5)),
              IsOk());
}

// Over TLS the probe is an ordinary handshake, abandoned: gRPC logs no error for it
// (a probe every 5 s must not fill the log).
TEST(ProbeListenerTest, SucceedsAgainstARunningTlsServerWithoutAnErrorLogged) {
  TestCerts certs;
  ASSERT_TRUE(certs.ok());
  CapturingLogSink library_log;
  LoggerOptions log_options;
  log_options.sink = &library_log;
  Logger logger(log_options);
  RouteLibraryLogs(&logger);
  {
    ServerOptions options = TestServerOptions();
    options.tls.cert_chain_pem = certs.CertPem("server");
    options.tls.private_key_pem = certs.KeyPem("server");
    TestServer server(options);
    for (int i = 0; i < 3; ++i) {
      EXPECT_THAT(ProbeListener("127.0.0.1", server.server().port(), /*tls=*/true,
                                absl::Seconds(5)),
                  IsOk());
    }
    absl::SleepFor(absl::Milliseconds(300));  // for a line gRPC would log late
  }
  RouteLibraryLogs(nullptr);
  EXPECT_THAT(library_log.Matching({"ERROR"}), ::testing::IsEmpty());
}

// The state CVE-2023-4785 leaves behind: the port is bound and the kernel completes
// TCP handshakes, but nobody accepts. A connect alone would succeed.
TEST(ProbeListenerTest, FailsWhenTheListenerDoesNotAccept) {
  RawSocket listening(/*listen=*/true);
  for (const bool tls : {false, true}) {
    SCOPED_TRACE(tls ? "tls" : "plaintext");
    EXPECT_THAT(ProbeListener("127.0.0.1", listening.port(), tls, absl::Milliseconds(300)),
                StatusIs(absl::StatusCode::kUnavailable, HasSubstr("did not answer")));
  }
}

TEST(ProbeListenerTest, FailsWhenNothingListens) {
  RawSocket bound(/*listen=*/false);
  EXPECT_THAT(ProbeListener("127.0.0.1", bound.port(), false, absl::Seconds(5)),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("cannot connect")));
}

TEST(ProbeListenerTest, FailsForAnUnresolvableHost) {
  EXPECT_THAT(ProbeListener("no-such-host.invalid", 1, false, absl::Seconds(5)),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("cannot resolve")));
}

// A scripted probe: answers from `results` in order, then OK forever.
class ScriptedProbe {
 public:
  explicit ScriptedProbe(std::deque<bool> results) : results_(std::move(results)) {}
  absl::Status operator()() {
    absl::MutexLock lock(&mu_);
    if (results_.empty()) return absl::OkStatus();
    const bool ok = results_.front();
    results_.pop_front();
    ++used_;
    return ok ? absl::OkStatus() : absl::UnavailableError(absl::StrCat("failure ", used_));
  }

 private:
  absl::Mutex mu_;
  std::deque<bool> results_ ABSL_GUARDED_BY(mu_);
  int used_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST(ListenerCheckTest, ReportsOnlyFailuresInARow) {
  // Two failures, a success (the count starts again), then three failures.
  ScriptedProbe script({false, false, true, false, false, false});
  absl::Notification dead;
  std::string last_error;
  ListenerCheck check([&script] { return script(); }, absl::Milliseconds(1), 3,
                      [&](const absl::Status& last) {
                        last_error = std::string(last.message());
                        dead.Notify();
                      });
  ASSERT_TRUE(dead.WaitForNotificationWithTimeout(absl::Seconds(20)));
  EXPECT_EQ(last_error, "failure 6");
  EXPECT_EQ(check.probes(), 6);
  EXPECT_EQ(check.failed_probes(), 5);
}

TEST(ListenerCheckTest, ProbesAHealthyListenerWithoutReporting) {
  TestServer server;
  const int port = server.server().port();
  bool reported = false;
  {
    ListenerCheck check(
        [port] { return ProbeListener("127.0.0.1", port, false, absl::Seconds(2)); },
        absl::Milliseconds(1), 1, [&](const absl::Status&) { reported = true; });
    const absl::Time give_up = absl::Now() + absl::Seconds(20);
    while (check.probes() < 20 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
    EXPECT_GE(check.probes(), 20);
    EXPECT_EQ(check.failed_probes(), 0);
  }
  EXPECT_FALSE(reported);
}

// The server's own check leaves a healthy listener alone (the dead case runs the real
// binary out of descriptors: main_hardening_test.cc).
TEST(ListenerCheckTest, ServerLeavesAHealthyListenerAlone) {
  ServerOptions options = TestServerOptions();
  options.listener_check_interval = absl::Milliseconds(20);
  options.listener_check_failures = 2;
  TestServer server(options);
  // About 15 probes' time.
  EXPECT_EQ(server.server().AwaitShutdownRequest(absl::Milliseconds(300)), std::nullopt);
  EXPECT_TRUE(server.log().Matching({"listener_dead"}).empty());
}

}  // namespace
}  // namespace semaphored::server::testing
