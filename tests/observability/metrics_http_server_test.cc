// Real sockets on 127.0.0.1 with ephemeral ports; every wait is bounded.

#include "server/observability/metrics_http_server.h"

#include <arpa/inet.h>
#include <poll.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <vector>

#include <httplib.h>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/status_matchers.h"

namespace semaphored::server {
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

// Everything the server sends on `fd` until it closes the connection, or "" if it
// neither sends nor closes within `timeout`. "<timeout>" is appended when it sent
// something but did not close.
std::string ReadAll(int fd, absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  std::string out;
  while (true) {
    const absl::Duration left = give_up - absl::Now();
    if (left <= absl::ZeroDuration()) return out.empty() ? out : out + "<timeout>";
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

// Whether the server has closed `fd` (EOF or reset), without waiting.
bool ClosedByServer(int fd) {
  char c;
  const ssize_t n = ::recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

bool SendAll(int fd, const std::string& data) {
  return ::send(fd, data.data(), data.size(), MSG_NOSIGNAL) ==
         static_cast<ssize_t>(data.size());
}

// Polls the server's stats until `done` holds (at most 10 s).
template <typename F>
bool AwaitStats(const MetricsHttpServer& server, F done) {
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (!done(server.stats())) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
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

// A client that connects and says nothing cannot hold Stop(): it closes every
// connection at once.
TEST(MetricsHttpServerTest, StopIsBoundedWithASilentClient) {
  MetricsHttpServer server([] { return std::string("x 1\n"); });
  ASSERT_THAT(server.Start("127.0.0.1:0"), IsOk());
  const int silent = Connect(server.port());
  ASSERT_GE(silent, 0);
  ASSERT_TRUE(AwaitStats(server, [](const MetricsHttpServer::Stats& s) {
    return s.accepted == 1;
  }));
  server.Stop();
  EXPECT_EQ(ReadAll(silent, absl::Seconds(5)), "");  // closed, not timed out
  EXPECT_EQ(server.stats().open, 0);
  ::close(silent);
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

TEST(MetricsHttpServerTest, HeadGetsTheHeadersOfGetWithoutTheBody) {
  const std::string body = "# TYPE x gauge\nx 1\n";
  MetricsHttpServer server([&body] { return body; });
  ASSERT_THAT(server.Start("127.0.0.1:0"), IsOk());
  const int fd = Connect(server.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
  const std::string answer = ReadAll(fd, absl::Seconds(10));
  ::close(fd);
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(answer, HasSubstr("Content-Length: " + std::to_string(body.size()) + "\r\n"));
  EXPECT_THAT(answer, ::testing::EndsWith("\r\n\r\n"));  // no body
}

// Every method but GET and HEAD is refused as soon as the request head is in: the
// announced body (here never sent) is not waited for, and `render` never runs.
TEST(MetricsHttpServerTest, OtherMethodsGet405WithoutTheirBodyBeingRead) {
  std::atomic<int> renders{0};
  MetricsHttpServer server([&renders] {
    ++renders;
    return std::string("x 1\n");
  });
  ASSERT_THAT(server.Start("127.0.0.1:0"), IsOk());
  const char* heads[] = {
      "POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
      "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n",
      "PUT /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n",
      "DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
      "OPTIONS /metrics HTTP/1.0\r\n\r\n",
      "BREW /metrics HTTP/1.1\r\n\r\n",
  };
  for (const char* head : heads) {
    SCOPED_TRACE(head);
    const int fd = Connect(server.port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendAll(fd, head));
    const std::string answer = ReadAll(fd, absl::Seconds(10));
    ::close(fd);
    EXPECT_THAT(answer, StartsWith("HTTP/1.1 405 Method Not Allowed\r\n"));
    EXPECT_THAT(answer, HasSubstr("Allow: GET, HEAD\r\n"));
  }
  EXPECT_EQ(renders.load(), 0);
}

// A client that goes on sending a 1 GiB chunked body after its 405 is cut off: the
// server discards a little while closing and then closes, so the sender fails long
// before the body is through (nothing of it is kept).
TEST(MetricsHttpServerTest, ABodySentAfterTheRefusalIsCutOff) {
  MetricsHttpServer server([] { return std::string("x 1\n"); });
  ASSERT_THAT(server.Start("127.0.0.1:0"), IsOk());
  const int fd = Connect(server.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(
      fd, "POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"));
  const std::string chunk = "4000\r\n" + std::string(0x4000, 'b') + "\r\n";
  constexpr size_t kLimit = size_t{64} << 20;  // far below the announced 1 GiB
  size_t sent = 0;
  bool cut_off = false;
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (sent < kLimit && absl::Now() < give_up) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = ::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n <= 0) {
      cut_off = true;
      break;
    }
    sent += static_cast<size_t>(n);
  }
  ::close(fd);
  EXPECT_TRUE(cut_off) << "sent " << sent << " bytes without being cut off";
  EXPECT_LT(sent, kLimit);
  EXPECT_EQ(server.stats().answered, 1);
}

TEST(MetricsHttpServerTest, MalformedAndOversizedRequestsGetClearErrors) {
  MetricsHttpServer::Options options;
  options.max_request_bytes = 1024;
  MetricsHttpServer server([] { return std::string("x 1\n"); }, options);
  ASSERT_THAT(server.Start("127.0.0.1:0"), IsOk());
  const struct {
    std::string request;
    const char* status_line;
  } cases[] = {
      {"GET\r\n\r\n", "HTTP/1.1 400 "},
      {"GET /metrics\r\n\r\n", "HTTP/1.1 400 "},
      {"GET /metrics HTTP/2.0\r\n\r\n", "HTTP/1.1 400 "},
      {"get /metrics HTTP/1.1\r\n\r\n", "HTTP/1.1 400 "},
      {"GET metrics HTTP/1.1\r\n\r\n", "HTTP/1.1 400 "},
      {"GET /metrics HTTP/1.1\r\nX: " + std::string(2000, 'a'), "HTTP/1.1 431 "},
      {"GET /metrics?name=x HTTP/1.1\r\n\r\n", "HTTP/1.1 200 "},
      {"GET /metrics HTTP/1.0\n\n", "HTTP/1.1 200 "},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.request.substr(0, 40));
    const int fd = Connect(server.port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendAll(fd, c.request));
    EXPECT_THAT(ReadAll(fd, absl::Seconds(10)), StartsWith(c.status_line));
    ::close(fd);
  }
}

// Slowloris: connections that send their request a byte at a time neither delay a
// scrape from another connection nor stay open past the request timeout, however
// regularly their bytes arrive.
TEST(MetricsHttpServerTest, SlowClientsNeitherBlockAScrapeNorOutliveTheTimeout) {
  MetricsHttpServer::Options options;
  options.request_timeout = absl::Seconds(3);
  MetricsHttpServer server([] { return std::string("x 1\n"); }, options);
  ASSERT_THAT(server.Start("127.0.0.1:0"), IsOk());
  const std::string request = "GET /metrics HTTP/1.1\r\nHost: slow\r\n";
  std::vector<int> slow;
  for (int i = 0; i < 2; ++i) {
    slow.push_back(Connect(server.port()));
    ASSERT_GE(slow.back(), 0);
    ASSERT_TRUE(SendAll(slow.back(), request.substr(0, 1)));
  }
  ASSERT_TRUE(AwaitStats(server, [](const MetricsHttpServer::Stats& s) {
    return s.accepted == 2;
  }));
  // The scrape is answered while both slow requests are still incomplete and open.
  httplib::Client client = ClientFor(server.port());
  httplib::Result res = client.Get("/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  for (int fd : slow) EXPECT_FALSE(ClosedByServer(fd));

  // One byte every 200 ms would never trip a per-read timeout; the request timeout
  // closes them anyway. Bounded: 60 rounds (12 s, four times the timeout).
  size_t next = 1;
  int rounds = 0;
  for (; rounds < 60; ++rounds) {
    bool all_closed = true;
    for (int fd : slow) {
      if (ClosedByServer(fd)) continue;
      all_closed = false;
      SendAll(fd, request.substr(next % request.size(), 1));
    }
    if (all_closed) break;
    ++next;
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_LT(rounds, 60) << "the slow connections were never closed";
  for (int fd : slow) {
    EXPECT_TRUE(ClosedByServer(fd));
    ::close(fd);
  }
  EXPECT_EQ(server.stats().timed_out, 2);
  EXPECT_EQ(server.stats().answered, 1);
}

// A flood of idle connections is bounded: beyond max_connections the oldest idle one
// is closed to make room, so descriptors stay bounded and a scrape still gets in.
TEST(MetricsHttpServerTest, ConnectionsBeyondTheBoundAreClosedAndAScrapeStillWorks) {
  MetricsHttpServer::Options options;
  options.max_connections = 8;
  options.request_timeout = absl::Seconds(30);  // only the bound closes them here
  MetricsHttpServer server([] { return std::string("x 1\n"); }, options);
  ASSERT_THAT(server.Start("127.0.0.1:0"), IsOk());
  constexpr int kFlood = 200;
  std::vector<int> flood;
  for (int i = 0; i < kFlood; ++i) {
    flood.push_back(Connect(server.port()));
    ASSERT_GE(flood.back(), 0);
  }
  ASSERT_TRUE(AwaitStats(server, [](const MetricsHttpServer::Stats& s) {
    return s.accepted == kFlood;
  }));
  EXPECT_LE(server.stats().open, options.max_connections);
  EXPECT_EQ(server.stats().evicted, kFlood - options.max_connections);

  httplib::Client client = ClientFor(server.port());
  httplib::Result res = client.Get("/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);

  int closed = 0;
  for (int fd : flood) {
    if (ClosedByServer(fd)) ++closed;
    ::close(fd);
  }
  // The scrape took one more of the flood's places.
  EXPECT_GE(closed, kFlood - options.max_connections);
  // Counted once the answer is written, which may be just after the client read it.
  EXPECT_TRUE(AwaitStats(server, [](const MetricsHttpServer::Stats& s) {
    return s.answered >= 1;
  }));
  const MetricsHttpServer::Stats stats = server.stats();
  EXPECT_LE(stats.open, options.max_connections);
  EXPECT_EQ(stats.answered, 1);
}

TEST(MetricsHttpServerTest, StartRejectsOptionsOutOfRange) {
  MetricsHttpServer::Options options;
  options.max_connections = 0;
  MetricsHttpServer server([] { return std::string(); }, options);
  EXPECT_THAT(server.Start("127.0.0.1:0"), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace semaphored::server
