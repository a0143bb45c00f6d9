// The server's metrics: counters and histograms, and their exposition.

#include "server/observability/metrics.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/observability/exposition.h"

namespace semaphored::server {

using engine::CoreCounts;
using engine::SessionEnd;
using engine::SessionEndReason;

namespace {

void AppendGauge(absl::string_view name, absl::string_view help, int64_t value,
                 std::string* out) {
  AppendHeader(name, help, "gauge", out);
  absl::StrAppend(out, name, " ", value, "\n");
}

void AppendCounter(absl::string_view name, absl::string_view help, uint64_t value,
                   std::string* out) {
  AppendHeader(name, help, "counter", out);
  absl::StrAppend(out, name, " ", value, "\n");
}

// One sample of a labelled metric whose header has been written.
void AppendSample(absl::string_view name, absl::string_view label,
                  absl::string_view label_value, uint64_t value, std::string* out) {
  absl::StrAppend(out, name, "{", label, "=\"", EscapeLabelValue(label_value), "\"} ",
                  value, "\n");
}

uint64_t Load(const std::atomic<uint64_t>& counter) {
  return counter.load(std::memory_order_relaxed);
}

}  // namespace

Metrics::Metrics()
    : acquire_wait_(AcquireWaitBuckets()),
      hold_time_(HoldTimeBuckets()),
      commit_time_(CommitTimeBuckets()) {}

void Metrics::OnBatchCommitted(size_t effects, size_t answers, absl::Duration took) {
  commits_.fetch_add(1, std::memory_order_relaxed);
  committed_effects_.fetch_add(effects, std::memory_order_relaxed);
  committed_answers_.fetch_add(answers, std::memory_order_relaxed);
  commit_time_.Observe(took);
}

void Metrics::SetLoaded(absl::Duration took) {
  load_nanos_.store(absl::ToInt64Nanoseconds(took), std::memory_order_relaxed);
}

void Metrics::SetCountsSource(std::function<CoreCounts()> source) {
  absl::MutexLock lock(&mu_);
  counts_source_ = std::move(source);
}

void Metrics::OnGrant(absl::Duration waited) {
  grants_.fetch_add(1, std::memory_order_relaxed);
  acquire_wait_.Observe(waited);
}

void Metrics::OnRelease(absl::Duration held) { hold_time_.Observe(held); }

void Metrics::OnWaitTimeout() { wait_timeouts_.fetch_add(1, std::memory_order_relaxed); }

void Metrics::OnSessionEnded(const SessionEnd& end) {
  const bool expired = end.reason == SessionEndReason::kExpired;
  (expired ? sessions_expired_ : sessions_closed_).fetch_add(1, std::memory_order_relaxed);
}

void Metrics::OnForceClear() { force_clears_.fetch_add(1, std::memory_order_relaxed); }

void Metrics::RecordSessionCreated() {
  sessions_created_.fetch_add(1, std::memory_order_relaxed);
}

void Metrics::RecordRejected(absl::StatusCode code) {
  if (code == absl::StatusCode::kOk) return;
  int index = static_cast<int>(code);
  if (index <= 0 || index >= kCodeCount) index = static_cast<int>(absl::StatusCode::kUnknown);
  rejected_[static_cast<size_t>(index)].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::RecordRequest(absl::string_view method) {
  absl::MutexLock lock(&mu_);
  auto it = requests_.find(method);
  if (it != requests_.end()) {
    ++it->second;
  } else if (requests_.size() < kMaxMethods) {
    requests_.emplace(std::string(method), 1);
  } else {
    ++requests_["other"];
  }
}

std::string Metrics::Render() const {
  std::function<CoreCounts()> source;
  {
    absl::MutexLock lock(&mu_);
    source = counts_source_;
  }
  const CoreCounts counts = source ? source() : CoreCounts{};
  std::string out;
  out.reserve(4096);
  AppendGauge("semaphored_sessions", "Live sessions.", counts.sessions, &out);
  AppendGauge("semaphored_semaphores",
              "Semaphores that exist: set, or waited on by a set request.",
              counts.semaphores, &out);
  AppendGauge("semaphored_held_semaphores",
              "Semaphores held, counted once per holding session.",
              counts.held_semaphores, &out);
  AppendGauge("semaphored_waiters", "Queued set and wait-for-clear requests.",
              counts.waiters, &out);
  RenderCounters(&out);
  acquire_wait_.Render(
      "semaphored_acquire_wait_seconds",
      "Time from a set request to its grant, in seconds (0 for an immediate grant).",
      &out);
  hold_time_.Render("semaphored_hold_seconds",
                    "Time from a grant to its release, in seconds (cleared, "
                    "force-cleared, or released when its session ended).",
                    &out);
  AppendCounter("semaphored_store_commits_total",
                "Batches of effects committed to the durable store (0 in memory).",
                Load(commits_), &out);
  AppendCounter("semaphored_store_committed_effects_total",
                "Effects (session, holder, waiter changes) in the committed batches.",
                Load(committed_effects_), &out);
  AppendCounter("semaphored_store_committed_answers_total",
                "Answers released by the committed batches; over commits_total, the "
                "operations per batch.",
                Load(committed_answers_), &out);
  commit_time_.Render("semaphored_store_commit_seconds",
                      "Time of one commit to the durable store (transaction and fsync), "
                      "in seconds.",
                      &out);
  AppendHeader("semaphored_store_load_seconds", "Time loading the store took at start.",
               "gauge", &out);
  absl::StrAppend(&out, "semaphored_store_load_seconds ",
                  FormatSeconds(absl::Nanoseconds(
                      load_nanos_.load(std::memory_order_relaxed))),
                  "\n");
  return out;
}

void Metrics::RenderCounters(std::string* out) const {
  AppendCounter("semaphored_sessions_created_total", "Sessions opened.",
                Load(sessions_created_), out);
  const char kEnded[] = "semaphored_sessions_ended_total";
  AppendHeader(kEnded,
               "Sessions ended, by reason: expired (no keepalive within the TTL) or "
               "closed (by the client, an administrator or a drain).",
               "counter", out);
  AppendSample(kEnded, "reason", "closed", Load(sessions_closed_), out);
  AppendSample(kEnded, "reason", "expired", Load(sessions_expired_), out);
  AppendCounter("semaphored_grants_total",
                "Semaphores granted to a session, at once or after waiting.",
                Load(grants_), out);
  AppendCounter("semaphored_wait_timeouts_total",
                "Set and wait-for-clear requests whose wait deadline passed.",
                Load(wait_timeouts_), out);
  AppendCounter("semaphored_force_clears_total",
                "Semaphores force-cleared by an administrator.", Load(force_clears_),
                out);

  const char kRejected[] = "semaphored_rejected_requests_total";
  AppendHeader(kRejected, "Requests answered with an error, by gRPC status code.",
               "counter", out);
  for (int code = 1; code < kCodeCount; ++code) {
    AppendSample(kRejected, "code",
                 absl::StatusCodeToString(static_cast<absl::StatusCode>(code)),
                 Load(rejected_[static_cast<size_t>(code)]), out);
  }

  std::vector<std::pair<std::string, uint64_t>> requests;
  {
    absl::MutexLock lock(&mu_);
    requests.assign(requests_.begin(), requests_.end());
  }
  std::sort(requests.begin(), requests.end());
  const char kRequests[] = "semaphored_requests_total";
  AppendHeader(kRequests, "Requests received, by RPC method.", "counter", out);
  for (const auto& [method, count] : requests) {
    AppendSample(kRequests, "method", method, count, out);
  }
}

}  // namespace semaphored::server
