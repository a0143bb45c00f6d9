// Load and leaks: 1,000 concurrent sessions of the real client library (four
// channels, 32 calling threads) churn as holders and waiters on a real server process
// for a bounded time, while a separate client keeps calling the gRPC health check.
// Afterwards every session is closed, the server says it has no session, semaphore or
// waiter left, and its resident memory is back near where it started.
//
// SEMAPHORED_LOAD_SECONDS sets the churn time of the measured cycle (default 12).

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "semaphored/v1/admin.grpc.pb.h"
#include "tests/common/status_matchers.h"
#include "tests/faults/server_child.h"
#include "tests/load/health_probe.h"
#include "tests/load/load_driver.h"

namespace semaphored::testing {
namespace {

constexpr int kSessions = 1000;
constexpr absl::Duration kWarmup = absl::Seconds(3);
constexpr absl::Duration kHealthInterval = absl::Milliseconds(50);
constexpr int64_t kMiB = 1024 * 1024;
// How far the server's memory may stay above its level after the warm-up cycle; see
// the comment at the check.
constexpr int64_t kRssSlack = 8 * kMiB;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// Every health check must answer SERVING within this (its deadline). Seen: at most
// ~35 ms on 2 cores; sanitizer builds run several times slower.
constexpr absl::Duration kHealthBound = absl::Seconds(kSanitized ? 5 : 1);

absl::Duration MeasuredChurn() {
  const char* env = std::getenv("SEMAPHORED_LOAD_SECONDS");
  int seconds = 0;
  if (env != nullptr && absl::SimpleAtoi(env, &seconds) && seconds > 0) {
    return absl::Seconds(seconds);
  }
  return absl::Seconds(12);
}

// The server's gauges, from its Prometheus endpoint.
struct Gauges {
  int64_t sessions = -1, semaphores = -1, held = -1, waiters = -1;
};

Gauges ReadGauges(int metrics_port) {
  Gauges g;
  httplib::Client http("127.0.0.1", metrics_port);
  http.set_connection_timeout(5);
  http.set_read_timeout(5);
  httplib::Result res = http.Get("/metrics");
  if (!res || res->status != 200) return g;
  for (absl::string_view line : absl::StrSplit(res->body, '\n')) {
    std::pair<std::string, std::string> kv = absl::StrSplit(line, ' ');
    int64_t* field = kv.first == "semaphored_sessions"          ? &g.sessions
                     : kv.first == "semaphored_semaphores"      ? &g.semaphores
                     : kv.first == "semaphored_held_semaphores" ? &g.held
                     : kv.first == "semaphored_waiters"         ? &g.waiters
                                                                : nullptr;
    if (field != nullptr && !absl::SimpleAtoi(kv.second, field)) *field = -1;
  }
  return g;
}

// The metrics port from the server's start line ("... metrics=http://127.0.0.1:P/..."),
// which follows the port file: polled for up to 10 s; 0 if it never comes.
int MetricsPort(const ServerChild& server) {
  const std::string marker = "http://127.0.0.1:";
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (absl::Now() < give_up) {
    const std::string log = server.LogTail(100000);
    if (const size_t at = log.find(marker); at != std::string::npos) {
      const size_t start = at + marker.size();
      int port = 0;
      return absl::SimpleAtoi(log.substr(start, log.find('/', start) - start), &port)
                 ? port
                 : 0;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  return 0;
}

// The server's admin token: admin over TCP always needs one.
constexpr char kAdminToken[] = "load-test-admin-token-0123456789";

// Expects the admin service to list no session and no semaphore (so no waiter either:
// a semaphore exists while anything waits on it).
void ExpectAdminEmpty(const std::string& address) {
  auto admin = v1::AdminService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext c1, c2;
  c1.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  c2.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  c1.AddMetadata("authorization", absl::StrCat("Bearer ", kAdminToken));
  c2.AddMetadata("authorization", absl::StrCat("Bearer ", kAdminToken));
  v1::ListSessionsResponse sessions;
  v1::ListSemaphoresResponse semaphores;
  ASSERT_TRUE(admin->ListSessions(&c1, v1::ListSessionsRequest(), &sessions).ok());
  ASSERT_TRUE(admin->ListSemaphores(&c2, v1::ListSemaphoresRequest(), &semaphores).ok());
  EXPECT_EQ(sessions.sessions_size(), 0) << sessions.DebugString();
  EXPECT_EQ(semaphores.semaphores_size(), 0) << semaphores.DebugString();
}

// One cycle: open every session, churn for `churn`, close everything. Returns the
// stats; `open_gauges` is what the server reported with every session open.
LoadStats Cycle(const std::string& address, int metrics_port, absl::Duration churn,
                Gauges* open_gauges) {
  LoadOptions options;
  options.address = address;
  options.sessions = kSessions;
  LoadDriver driver(options);
  const absl::Time start = absl::Now();
  const absl::Status opened = driver.Open();
  EXPECT_TRUE(opened.ok()) << opened;
  *open_gauges = ReadGauges(metrics_port);
  const absl::Time churn_start = absl::Now();
  LoadStats stats = driver.Run(churn);
  const absl::Time close_start = absl::Now();
  const absl::Status closed = driver.CloseAll();
  EXPECT_TRUE(closed.ok()) << closed;
  std::printf(
      "MEASURED load cycle: open %d sessions %.0f ms, churn %.0f ms, close %.0f ms; "
      "%lld calls (%.0f/s), %lld grants, %lld not acquired, %lld wait-clears, %lld "
      "sessions replaced, %lld errors\n",
      kSessions, absl::ToDoubleMilliseconds(churn_start - start),
      absl::ToDoubleMilliseconds(close_start - churn_start),
      absl::ToDoubleMilliseconds(absl::Now() - close_start),
      static_cast<long long>(stats.calls),
      stats.calls / absl::ToDoubleSeconds(close_start - churn_start),
      static_cast<long long>(stats.grants), static_cast<long long>(stats.not_acquired),
      static_cast<long long>(stats.wait_clears),
      static_cast<long long>(stats.sessions_replaced),
      static_cast<long long>(stats.errors));
  EXPECT_EQ(stats.errors, 0) << "first error: " << stats.first_error;
  return stats;
}

TEST(LoadTest, ThousandSessionsChurnWhileHealthServesThenNothingIsLeft) {
  ScratchDir dir("semaphored_load_");
  ASSERT_FALSE(dir.path().empty());
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<ServerChild> server,
      ServerChild::Start(SEMAPHORED_BINARY, dir.path(), "127.0.0.1", 0,
                         // All 1,000 sessions come from this one address: the
                         // per-peer limits are raised (count) and off (rate).
                         {"--state_file=", "--metrics_address=127.0.0.1:0",
                          "--max_sessions_per_peer=2000", "--session_rate_per_peer=0",
                          absl::StrCat("--admin_token=", kAdminToken)}));
  const int metrics_port = MetricsPort(*server);
  ASSERT_GT(metrics_port, 0) << server->LogTail();
  ASSERT_OK_AND_ASSIGN(const int64_t rss_start, ResidentBytes(server->pid()));

  HealthProbe probe(server->address(), kHealthInterval, kHealthBound, server->pid());
  Gauges open;
  // The warm-up cycle has the same shape as the measured one (shorter): it brings
  // the server's allocator arenas, gRPC's buffers and the core's tables to their
  // working size.
  const LoadStats warm = Cycle(server->address(), metrics_port, kWarmup, &open);
  ExpectAdminEmpty(server->address());
  ASSERT_OK_AND_ASSIGN(const int64_t rss_warm, ResidentBytes(server->pid()));
  const int64_t peak_warm = probe.result().peak_rss;

  const LoadStats measured =
      Cycle(server->address(), metrics_port, MeasuredChurn(), &open);
  // With every session open the server counted them all, and each held its own name.
  EXPECT_EQ(open.sessions, kSessions);
  EXPECT_GE(open.held, kSessions);
  ExpectAdminEmpty(server->address());
  const Gauges after = ReadGauges(metrics_port);
  EXPECT_EQ(after.sessions, 0);
  EXPECT_EQ(after.semaphores, 0);
  EXPECT_EQ(after.held, 0);
  EXPECT_EQ(after.waiters, 0);
  ASSERT_OK_AND_ASSIGN(const int64_t rss_end, ResidentBytes(server->pid()));
  probe.Stop();
  const HealthProbe::Result health = probe.result();

  std::printf(
      "MEASURED health: %lld checks, %lld failed, max latency %.1f ms (bound %s)\n",
      static_cast<long long>(health.calls), static_cast<long long>(health.failures),
      absl::ToDoubleMilliseconds(health.max_latency),
      absl::FormatDuration(kHealthBound).c_str());
  std::printf(
      "MEASURED server RSS: start %.1f MiB, warm-up peak %.1f, after warm-up %.1f, "
      "peak %.1f, end %.1f MiB (limit %.1f)%s\n",
      rss_start / double(kMiB), peak_warm / double(kMiB), rss_warm / double(kMiB),
      health.peak_rss / double(kMiB), rss_end / double(kMiB),
      (rss_warm + kRssSlack) / double(kMiB),
      kSanitized ? " [sanitizer build: not checked]" : "");
  EXPECT_GT(warm.grants + measured.grants, 0);
  EXPECT_GT(health.calls, 10);
  EXPECT_EQ(health.failures, 0) << health.first_failure;

  // "Back near the start". Freed memory is not all handed back to the system (glibc
  // keeps per-thread arenas and their fragmentation; gRPC keeps buffers), so a fresh
  // server's RSS is no fair baseline: measured here, it starts near 19 MiB, peaks near
  // 43 MiB with 1,000 sessions, and stays near 37 MiB after the warm-up even though
  // nothing is left. The baseline is therefore the RSS after the warm-up cycle, when
  // those pools have their working size; the measured cycle has the same shape, is 4x
  // longer, and may end at most 8 MiB above it (seen: 1.5-3 MiB, whether the churn
  // lasts 12 s or 45 s). What 8 MiB catches: the sessions' memory is ~20 KiB each
  // (24 MiB for 1,000), and a cycle opens ~2,200 sessions and makes ~35,000 calls, so
  // keeping 4 KiB per session or 250 bytes per call fails the check. Sanitizer builds
  // keep freed memory on purpose (ASan's quarantine) or shadow it (TSan): there the
  // numbers are printed, not checked.
  if (!kSanitized) {
    EXPECT_LE(rss_end, rss_warm + kRssSlack)
        << "server memory grew by " << (rss_end - rss_warm) / double(kMiB)
        << " MiB over a cycle identical to the warm-up";
  }
  ASSERT_OK_AND_ASSIGN(const int exit_code, server->Terminate());
  EXPECT_EQ(exit_code, 0) << server->LogTail();
}

}  // namespace
}  // namespace semaphored::testing
