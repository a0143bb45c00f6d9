// Real sockets on 127.0.0.1 with ephemeral ports; every wait is bounded.

#include "server/observability/metrics_http_server.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include <httplib.h>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/status_matchers.h"

namespace semaphored::internal {
namespace {

using ::semaphored::testing::IsOk;
using ::semaphored::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// A client with bounded timeouts.
httplib::Client ClientFor(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5);
  client.set_read_timeout(5);
  client.set_write_timeout(5);
  return client;
}

// A TCP connection to 127.0.0.1:port; -1 on failure.
int Connect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

TEST(ParseListenAddressTest, AcceptsHostPortForms) {
  struct Case {
    const char* address;
    const char* host;
    int port;
  } cases[] = {
      {"127.0.0.1:9090", "127.0.0.1", 9090}, {"[::1]:0", "::1", 0},
      {":9090", "0.0.0.0", 9090},            {"localhost:65535", "localhost", 65535},
      {"0.0.0.0:0", "0.0.0.0", 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.address);
    ASSERT_OK_AND_ASSIGN(HostPort hp, ParseListenAddress(c.address));
    EXPECT_EQ(hp.host, c.host);
    EXPECT_EQ(hp.port, c.port);
  }
}

TEST(ParseListenAddressTest, RejectsMalformedAddressesSayingWhy) {
  struct Case {
    const char* address;
    const char* why;
  } cases[] = {
      {"127.0.0.1", "has no port"},          {"127.0.0.1:", "port must be a number"},
      {"127.0.0.1:65536", "port must be"},   {"127.0.0.1:-1", "port must be"},
      {"127.0.0.1:+80", "port must be"},     {"127.0.0.1: 80", "port must be"},
      {"::1:9090", "in brackets"},           {"host:http", "port must be"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.address);
    EXPECT_THAT(ParseListenAddress(c.address),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.why)));
  }
}

TEST(MetricsHttpServerTest, ServesMetricsOnAnEphemeralPort) {
  std::atomic<int> renders{0};
  MetricsHttpServer server([&renders] {
    ++renders;
    return std::string("# HELP x X.\n# TYPE x gauge\nx 1\n");
  });
  EXPECT_EQ(server.port(), 0);
  ASSERT_THAT(server.Start("127.0.0.1:0"), IsOk());
  ASSERT_GT(server.port(), 0);

  httplib::Client client = ClientFor(server.port());
  httplib::Result res = client.Get("/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "# HELP x X.\n# TYPE x gauge\nx 1\n");
  EXPECT_THAT(res->get_header_value("Content-Type"), StartsWith("text/plain; version=0.0.4"));

  res = client.Get("/metrics");  // each scrape renders afresh
  ASSERT_TRUE(res);
  EXPECT_EQ(renders.load(), 2);
  server.Stop();
}

TEST(MetricsHttpServerTest, OtherPathsGet404) {
  MetricsHttpServer server([] { return std::string("x 1\n"); });
  ASSERT_THAT(server.Start("127.0.0.1:0"), IsOk());
  httplib::Client client = ClientFor(server.port());
  for (const char* path : {"/", "/metric", "/metrics/", "/metrics2", "/health"}) {
    SCOPED_TRACE(path);
    httplib::Result res = client.Get(path);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 404);
    EXPECT_THAT(res->body, HasSubstr("/metrics"));
  }
}

TEST(MetricsHttpServerTest, StartFailsClearlyWhenThePortIsTaken) {
  MetricsHttpServer first([] { return std::string(); });
  ASSERT_THAT(first.Start("127.0.0.1:0"), IsOk());
  const std::string taken = "127.0.0.1:" + std::to_string(first.port());
  MetricsHttpServer second([] { return std::string(); });
  EXPECT_THAT(second.Start(taken), StatusIs(absl::StatusCode::kUnavailable,
                                            HasSubstr("cannot listen for metrics on " + taken)));
  EXPECT_EQ(second.port(), 0);
}

TEST(MetricsHttpServerTest, StartRejectsABadAddressAndASecondStart) {
  MetricsHttpServer server([] { return std::string(); });
  EXPECT_THAT(server.Start("nonsense"), StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_THAT(server.Start("127.0.0.1:0"), IsOk());
  EXPECT_THAT(server.Start("127.0.0.1:0"), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(MetricsHttpServerTest, StopIsIdempotentAndWorksWithoutStart) {
  MetricsHttpServer never_started([] { return std::string(); });
  never_started.Stop();
  MetricsHttpServer server([] { return std::string(); });
  ASSERT_THAT(server.Start("127.0.0.1:0"), IsOk());
  const int port = server.port();
  server.Stop();
  server.Stop();
  // The port no longer answers.
  httplib::Client client = ClientFor(port);
  EXPECT_FALSE(client.Get("/metrics"));
}

TEST(MetricsHttpServerTest, StopRightAfterStartReturns) {
  for (int i = 0; i < 20; ++i) {
    MetricsHttpServer server([] { return std::string(); });
    ASSERT_THAT(server.Start("127.0.0.1:0"), IsOk());
    server.Stop();  // before the serving thread may have started its loop
  }
}

// A client that connects and says nothing cannot hold Stop() for longer than the
// I/O timeout allows.
TEST(MetricsHttpServerTest, StopIsBoundedWithASilentClient) {
  MetricsHttpServer::Options options;
  options.io_timeout = absl::Seconds(1);
  MetricsHttpServer server([] { return std::string("x 1\n"); }, options);
  ASSERT_THAT(server.Start("127.0.0.1:0"), IsOk());
  const int silent = Connect(server.port());
  ASSERT_GE(silent, 0);
  // Connections are accepted in order, so once this scrape is answered the silent
  // connection has been accepted and occupies a worker.
  httplib::Client client = ClientFor(server.port());
  ASSERT_TRUE(client.Get("/metrics"));
  const absl::Time start = absl::Now();
  server.Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  ::close(silent);
}

// Writes to a scraper that hung up must fail with EPIPE, never kill the process:
// the threads that write answers (those that call `render`) block SIGPIPE.
TEST(MetricsHttpServerTest, ServingThreadsBlockSigpipe) {
  std::atomic<int> blocked{-1};
  MetricsHttpServer server([&blocked] {
    sigset_t current;
    pthread_sigmask(SIG_BLOCK, nullptr, &current);
    blocked = sigismember(&current, SIGPIPE);
    return std::string("x 1\n");
  });
  ASSERT_THAT(server.Start("127.0.0.1:0"), IsOk());
  httplib::Client client = ClientFor(server.port());
  ASSERT_TRUE(client.Get("/metrics"));
  EXPECT_EQ(blocked.load(), 1);
}

// A scraper that hangs up in the middle of a large answer does not disturb the
// server: the next scrape gets the whole answer.
TEST(MetricsHttpServerTest, KeepsServingAfterAScraperHangsUpMidAnswer) {
  const std::string big(16 << 20, 'x');
  MetricsHttpServer server([&big] { return big; });
  ASSERT_THAT(server.Start("127.0.0.1:0"), IsOk());
  const int fd = Connect(server.port());
  ASSERT_GE(fd, 0);
  const std::string request = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  char buf[256];
  ASSERT_GT(::read(fd, buf, sizeof buf), 0);  // the answer has started
  linger reset{1, 0};                         // close with RST
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  ::close(fd);

  httplib::Client client = ClientFor(server.port());
  httplib::Result res = client.Get("/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->body.size(), big.size());
  server.Stop();
}

}  // namespace
}  // namespace semaphored::internal
