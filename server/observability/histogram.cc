// A lock-free duration histogram for the metrics.

#include "server/observability/histogram.h"

#include <algorithm>
#include <cassert>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/observability/exposition.h"

namespace semaphored::server {

DurationHistogram::DurationHistogram(std::vector<absl::Duration> bounds)
    : bounds_(std::move(bounds)),
      counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
  assert(std::is_sorted(bounds_.begin(), bounds_.end()) &&
         std::adjacent_find(bounds_.begin(), bounds_.end()) == bounds_.end());
}

void DurationHistogram::Observe(absl::Duration d) {
  if (d < absl::ZeroDuration()) d = absl::ZeroDuration();
  // The first bound >= d: buckets are inclusive of their upper bound.
  const size_t i = static_cast<size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), d) - bounds_.begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  // std::atomic<double> has no fetch_add before C++20.
  const double seconds = absl::ToDoubleSeconds(d);
  double sum = sum_seconds_.load(std::memory_order_relaxed);
  while (!sum_seconds_.compare_exchange_weak(sum, sum + seconds,
                                             std::memory_order_relaxed)) {
  }
}

DurationHistogram::Snapshot DurationHistogram::Read() const {
  Snapshot s;
  s.bounds = bounds_;
  s.cumulative.reserve(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(total);
  }
  s.count = total;
  s.sum_seconds = sum_seconds_.load(std::memory_order_relaxed);
  return s;
}

void DurationHistogram::Render(absl::string_view name, absl::string_view help,
                               std::string* out) const {
  const Snapshot s = Read();
  AppendHeader(name, help, "histogram", out);
  for (size_t i = 0; i < s.bounds.size(); ++i) {
    absl::StrAppend(out, name, "_bucket{le=\"", FormatSeconds(s.bounds[i]), "\"} ",
                    s.cumulative[i], "\n");
  }
  absl::StrAppend(out, name, "_bucket{le=\"+Inf\"} ", s.count, "\n");
  absl::StrAppend(out, name, "_sum ", FormatDouble(s.sum_seconds), "\n");
  absl::StrAppend(out, name, "_count ", s.count, "\n");
}

std::string FormatSeconds(absl::Duration d) {
  const int64_t ns = absl::ToInt64Nanoseconds(d);
  const char* sign = ns < 0 ? "-" : "";
  const uint64_t abs_ns = ns < 0 ? 0 - static_cast<uint64_t>(ns) : static_cast<uint64_t>(ns);
  std::string text = absl::StrFormat("%s%d.%09d", sign, abs_ns / 1'000'000'000,
                                     abs_ns % 1'000'000'000);
  while (text.back() == '0') text.pop_back();
  if (text.back() == '.') text.pop_back();
  return text;
}

std::vector<absl::Duration> AcquireWaitBuckets() {
  const absl::Duration ms = absl::Milliseconds(1);
  return {absl::Microseconds(100), absl::Microseconds(250), absl::Microseconds(500),
          ms,           2.5 * ms,      5 * ms,        10 * ms,       25 * ms,
          50 * ms,      100 * ms,      250 * ms,      500 * ms,      absl::Seconds(1),
          absl::Milliseconds(2500),    absl::Seconds(5),             absl::Seconds(10),
          absl::Seconds(30),           absl::Seconds(60)};
}

std::vector<absl::Duration> HoldTimeBuckets() {
  const absl::Duration ms = absl::Milliseconds(1);
  return {ms,
          10 * ms,
          100 * ms,
          500 * ms,
          absl::Seconds(1),
          absl::Seconds(5),
          absl::Seconds(10),
          absl::Seconds(30),
          absl::Seconds(60),
          absl::Minutes(5),
          absl::Minutes(15),
          absl::Hours(1)};
}

std::vector<absl::Duration> CommitTimeBuckets() {
  const absl::Duration us = absl::Microseconds(1);
  const absl::Duration ms = absl::Milliseconds(1);
  return {50 * us, 100 * us, 250 * us, 500 * us, ms,       2 * ms,           5 * ms,
          10 * ms, 25 * ms,  50 * ms,  100 * ms, 250 * ms, absl::Seconds(1), absl::Seconds(10)};
}

}  // namespace semaphored::server
