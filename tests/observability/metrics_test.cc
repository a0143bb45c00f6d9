// Tests of the server's metrics: families, counters, gauges, histograms, labels and escaping.

#include "server/observability/metrics.h"

#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/clock.h"
#include "engine/core.h"
#include "engine/counter_token_source.h"
#include "tests/observability/exposition_check.h"

namespace semaphored::server {

using ::semaphored::internal::FakeClock;
using ::semaphored::internal::FormatSessionId;

using engine::Core;
using engine::CoreCounts;
using engine::CounterTokenSource;
using engine::NewSession;
using engine::SessionEnd;
using engine::SessionEndReason;
using engine::SetArgs;
using engine::SetOutcome;

namespace {

using ::testing::HasSubstr;
using ::testing::IsSubsetOf;
using ::testing::Not;

// The value of one series, or -1 when absent.
double Value(const Exposition& e, const std::string& series) {
  auto it = e.samples.find(series);
  return it == e.samples.end() ? -1 : it->second;
}

Exposition Scrape(const Metrics& m) {
  Exposition e = ParseExposition(m.Render());
  EXPECT_EQ(e.error, "");
  return e;
}

// The checker the tests below rely on does reject malformed text.
TEST(ExpositionCheckTest, RejectsMalformedText) {
  const std::string ok = "# HELP a A.\n# TYPE a counter\na{x=\"1\\\"\"} 2\n";
  EXPECT_EQ(ParseExposition(ok).error, "");
  for (const std::string& bad : {
           std::string("# HELP a A.\n# TYPE a counter\na 1"),      // no final newline
           std::string("a 1\n"),                                     // no TYPE
           std::string("# TYPE a counter\na 1\n"),                  // no HELP
           std::string("# HELP a A.\n# TYPE a counter\na{x=1} 1\n"),  // unquoted label
           std::string("# HELP a A.\n# TYPE a counter\na{x=\"\\q\"} 1\n"),  // bad escape
           std::string("# HELP a A.\n# TYPE a counter\na one\n"),  // bad value
           std::string("# HELP a A.\n# TYPE a counter\na 1\na 2\n"),  // duplicate
       }) {
    SCOPED_TRACE(bad);
    EXPECT_NE(ParseExposition(bad).error, "");
  }
}

TEST(MetricsTest, CommitsAndLoadTimeAreCounted) {
  Metrics m;
  m.OnBatchCommitted(5, 3, absl::Microseconds(700));
  m.OnBatchCommitted(1, 1, absl::Milliseconds(3));
  m.SetLoaded(absl::Milliseconds(250));
  const Exposition e = Scrape(m);
  EXPECT_EQ(e.samples.at("semaphored_store_commits_total"), 2);
  EXPECT_EQ(e.samples.at("semaphored_store_committed_effects_total"), 6);
  EXPECT_EQ(e.samples.at("semaphored_store_committed_answers_total"), 4);
  EXPECT_EQ(e.samples.at("semaphored_store_commit_seconds_count"), 2);
  EXPECT_EQ(e.samples.at("semaphored_store_commit_seconds_bucket{le=\"0.001\"}"), 1);
  EXPECT_DOUBLE_EQ(e.samples.at("semaphored_store_load_seconds"), 0.25);
}

TEST(MetricsTest, EveryFamilyHasHelpAndTheRightType) {
  Metrics m;
  const Exposition e = Scrape(m);
  const std::map<std::string, std::string> want = {
      {"semaphored_sessions", "gauge"},
      {"semaphored_semaphores", "gauge"},
      {"semaphored_held_semaphores", "gauge"},
      {"semaphored_waiters", "gauge"},
      {"semaphored_sessions_created_total", "counter"},
      {"semaphored_sessions_ended_total", "counter"},
      {"semaphored_grants_total", "counter"},
      {"semaphored_wait_timeouts_total", "counter"},
      {"semaphored_force_clears_total", "counter"},
      {"semaphored_rejected_requests_total", "counter"},
      {"semaphored_requests_total", "counter"},
      {"semaphored_acquire_wait_seconds", "histogram"},
      {"semaphored_hold_seconds", "histogram"},
      {"semaphored_store_commits_total", "counter"},
      {"semaphored_store_committed_effects_total", "counter"},
      {"semaphored_store_committed_answers_total", "counter"},
      {"semaphored_store_commit_seconds", "histogram"},
      {"semaphored_store_load_seconds", "gauge"},
  };
  EXPECT_EQ(e.types, want);
  for (const auto& [name, type] : want) {
    SCOPED_TRACE(name);
    EXPECT_FALSE(e.helps.at(name).empty());
    // Prometheus conventions: counters end in _total, durations are in seconds.
    EXPECT_EQ(type == "counter", absl::EndsWith(name, "_total"));
    if (type == "histogram") {
      EXPECT_TRUE(absl::EndsWith(name, "_seconds"));
    }
  }
}

TEST(MetricsTest, GaugesComeFromTheCountsSourceAtScrapeTime) {
  Metrics m;
  EXPECT_EQ(Value(Scrape(m), "semaphored_sessions"), 0);
  CoreCounts counts;
  m.SetCountsSource([&counts] { return counts; });
  counts = {3, 5, 7, 11};
  const Exposition e = Scrape(m);
  EXPECT_EQ(Value(e, "semaphored_sessions"), 3);
  EXPECT_EQ(Value(e, "semaphored_semaphores"), 5);
  EXPECT_EQ(Value(e, "semaphored_held_semaphores"), 7);
  EXPECT_EQ(Value(e, "semaphored_waiters"), 11);
}

TEST(MetricsTest, CountersIncrease) {
  Metrics m;
  m.RecordSessionCreated();
  m.OnSessionEnded(SessionEnd{1, "c", SessionEndReason::kExpired, 0});
  m.OnSessionEnded(SessionEnd{1, "c", SessionEndReason::kClosed, 0});
  m.OnSessionEnded(SessionEnd{1, "c", SessionEndReason::kClosed, 0});
  m.OnWaitTimeout();
  m.OnForceClear();
  m.OnForceClear();
  m.OnGrant(absl::ZeroDuration());
  Exposition e = Scrape(m);
  EXPECT_EQ(Value(e, "semaphored_sessions_created_total"), 1);
  EXPECT_EQ(Value(e, "semaphored_sessions_ended_total{reason=\"expired\"}"), 1);
  EXPECT_EQ(Value(e, "semaphored_sessions_ended_total{reason=\"closed\"}"), 2);
  EXPECT_EQ(Value(e, "semaphored_wait_timeouts_total"), 1);
  EXPECT_EQ(Value(e, "semaphored_force_clears_total"), 2);
  EXPECT_EQ(Value(e, "semaphored_grants_total"), 1);
  m.OnGrant(absl::Seconds(1));
  m.OnWaitTimeout();
  e = Scrape(m);
  EXPECT_EQ(Value(e, "semaphored_grants_total"), 2);
  EXPECT_EQ(Value(e, "semaphored_wait_timeouts_total"), 2);
}

TEST(MetricsTest, RejectedRequestsAreCountedByCodeName) {
  Metrics m;
  m.RecordRejected(absl::StatusCode::kInvalidArgument);
  m.RecordRejected(absl::StatusCode::kInvalidArgument);
  m.RecordRejected(absl::StatusCode::kResourceExhausted);
  m.RecordRejected(absl::StatusCode::kOk);                  // not a rejection
  m.RecordRejected(static_cast<absl::StatusCode>(99));      // out of range: UNKNOWN
  const Exposition e = Scrape(m);
  const std::string name = "semaphored_rejected_requests_total";
  EXPECT_EQ(Value(e, name + "{code=\"INVALID_ARGUMENT\"}"), 2);
  EXPECT_EQ(Value(e, name + "{code=\"RESOURCE_EXHAUSTED\"}"), 1);
  EXPECT_EQ(Value(e, name + "{code=\"UNKNOWN\"}"), 1);
  EXPECT_EQ(Value(e, name + "{code=\"UNAUTHENTICATED\"}"), 0);
  EXPECT_EQ(Value(e, name + "{code=\"OK\"}"), -1);
}

TEST(MetricsTest, RequestsAreCountedByMethodUpToABoundedNumberOfNames) {
  Metrics m;
  m.RecordRequest("Set");
  m.RecordRequest("Set");
  m.RecordRequest("Clear");
  Exposition e = Scrape(m);
  EXPECT_EQ(Value(e, "semaphored_requests_total{method=\"Set\"}"), 2);
  EXPECT_EQ(Value(e, "semaphored_requests_total{method=\"Clear\"}"), 1);
  for (size_t i = 0; i < Metrics::kMaxMethods + 10; ++i) {
    m.RecordRequest("M" + std::to_string(i));
  }
  e = Scrape(m);
  int series = 0;
  for (const auto& [key, value] : e.samples) {
    if (absl::StartsWith(key, "semaphored_requests_total{")) ++series;
  }
  EXPECT_EQ(series, static_cast<int>(Metrics::kMaxMethods) + 1);  // + "other"
  EXPECT_EQ(Value(e, "semaphored_requests_total{method=\"other\"}"), 12);
}

TEST(MetricsTest, HistogramsAreCumulativeWithInfSumAndCount) {
  Metrics m;
  m.OnGrant(absl::ZeroDuration());
  m.OnGrant(absl::Milliseconds(3));
  m.OnGrant(absl::Minutes(2));  // beyond the last bucket
  m.OnRelease(absl::Milliseconds(20));
  const Exposition e = Scrape(m);
  const std::string w = "semaphored_acquire_wait_seconds";
  EXPECT_EQ(Value(e, w + "_bucket{le=\"0.0001\"}"), 1);
  EXPECT_EQ(Value(e, w + "_bucket{le=\"0.0025\"}"), 1);
  EXPECT_EQ(Value(e, w + "_bucket{le=\"0.005\"}"), 2);
  EXPECT_EQ(Value(e, w + "_bucket{le=\"60\"}"), 2);
  EXPECT_EQ(Value(e, w + "_bucket{le=\"+Inf\"}"), 3);
  EXPECT_EQ(Value(e, w + "_count"), 3);
  EXPECT_NEAR(Value(e, w + "_sum"), 120.003, 1e-9);
  const std::string h = "semaphored_hold_seconds";
  EXPECT_EQ(Value(e, h + "_bucket{le=\"0.01\"}"), 0);
  EXPECT_EQ(Value(e, h + "_bucket{le=\"0.1\"}"), 1);
  EXPECT_EQ(Value(e, h + "_count"), 1);
  // Cumulative: never decreasing along the buckets, as rendered.
  double previous = 0;
  for (absl::string_view line : absl::StrSplit(m.Render(), '\n')) {
    if (!absl::StartsWith(line, w + "_bucket")) continue;
    double v = 0;
    ASSERT_TRUE(absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &v)) << line;
    EXPECT_GE(v, previous) << line;
    previous = v;
  }
  EXPECT_EQ(previous, 3);
}

// Drives a real core: its events reach the metrics, and no label names a semaphore
// or a session.
TEST(MetricsTest, CountsACoreAndNeverLabelsBySemaphoreOrSession) {
  FakeClock clock;
  CounterTokenSource tokens;
  Core core(&clock, &tokens);
  Metrics m;
  core.SetListener(&m);
  m.SetCountsSource([&core] { return core.Counts(); });

  absl::StatusOr<NewSession> a = core.CreateSession("alice", absl::Seconds(10));
  absl::StatusOr<NewSession> b = core.CreateSession("bob", absl::Seconds(10));
  ASSERT_TRUE(a.ok() && b.ok());
  SetArgs args;
  args.name = "payroll-secret-name";
  bool a_acquired = false, b_acquired = false;
  core.Set(a->id, args, [&](absl::StatusOr<SetOutcome> o) { a_acquired = o.ok() && o->acquired; });
  args.wait = {absl::InfiniteDuration(), absl::InfiniteFuture()};
  core.Set(b->id, args, [&](absl::StatusOr<SetOutcome> o) { b_acquired = o.ok() && o->acquired; });
  ASSERT_TRUE(a_acquired);

  Exposition e = Scrape(m);
  EXPECT_EQ(Value(e, "semaphored_sessions"), 2);
  EXPECT_EQ(Value(e, "semaphored_semaphores"), 1);
  EXPECT_EQ(Value(e, "semaphored_held_semaphores"), 1);
  EXPECT_EQ(Value(e, "semaphored_waiters"), 1);

  clock.Advance(absl::Milliseconds(3));
  ASSERT_TRUE(core.Clear(a->id, args.name).ok());
  ASSERT_TRUE(b_acquired);
  clock.Advance(absl::Seconds(11));  // both sessions' TTLs run out
  core.Tick();

  e = Scrape(m);
  EXPECT_EQ(Value(e, "semaphored_grants_total"), 2);
  EXPECT_EQ(Value(e, "semaphored_acquire_wait_seconds_bucket{le=\"0.0001\"}"), 1);
  EXPECT_EQ(Value(e, "semaphored_acquire_wait_seconds_bucket{le=\"0.005\"}"), 2);
  EXPECT_EQ(Value(e, "semaphored_hold_seconds_count"), 2);  // cleared, then expired
  EXPECT_EQ(Value(e, "semaphored_sessions_ended_total{reason=\"expired\"}"), 2);
  EXPECT_EQ(Value(e, "semaphored_sessions"), 0);
  EXPECT_EQ(Value(e, "semaphored_held_semaphores"), 0);

  const std::string text = m.Render();
  EXPECT_THAT(text, Not(HasSubstr("payroll")));
  EXPECT_THAT(text, Not(HasSubstr(FormatSessionId(a->id))));
  EXPECT_THAT(text, Not(HasSubstr("alice")));
  EXPECT_THAT(e.label_names, IsSubsetOf({"le", "reason", "code", "method"}));
}

TEST(MetricsTest, HelpTextAndLabelValuesAreEscaped) {
  Metrics m;
  m.RecordRequest("we\"ird\\name\n");
  const std::string text = m.Render();
  EXPECT_THAT(text, HasSubstr("{method=\"we\\\"ird\\\\name\\n\"} 1\n"));
  EXPECT_EQ(ParseExposition(text).error, "");
}

}  // namespace
}  // namespace semaphored::server
