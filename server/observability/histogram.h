#ifndef SEMAPHORED_SERVER_OBSERVABILITY_HISTOGRAM_H_
#define SEMAPHORED_SERVER_OBSERVABILITY_HISTOGRAM_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace semaphored::server {

// A Prometheus histogram of durations, in seconds, with fixed bucket bounds.
//
// Observe() is lock-free and never allocates, so it may be called with other locks
// held (the core's, for instance). Reads may run concurrently with observations;
// each read is consistent in itself (its +Inf bucket equals its _count) but may miss
// observations made while it ran.
class DurationHistogram {
 public:
  // `bounds`: the buckets' upper bounds (inclusive, as Prometheus's `le`), strictly
  // increasing and positive, whole nanoseconds. The +Inf bucket is implicit.
  explicit DurationHistogram(std::vector<absl::Duration> bounds);
  DurationHistogram(const DurationHistogram&) = delete;
  DurationHistogram& operator=(const DurationHistogram&) = delete;

  // Counts one observation. Negative durations count as zero.
  void Observe(absl::Duration d);

  struct Snapshot {
    std::vector<absl::Duration> bounds;
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf
    uint64_t count = 0;                // == cumulative.back()
    double sum_seconds = 0;
  };
  Snapshot Read() const;

  // Appends the histogram's HELP, TYPE, _bucket, _sum and _count lines to `out`.
  // `name` is the metric name without suffix (e.g. "semaphored_hold_seconds").
  void Render(absl::string_view name, absl::string_view help, std::string* out) const;

 private:
  const std::vector<absl::Duration> bounds_;
  // counts_[i]: observations in (bounds_[i-1], bounds_[i]]; counts_[bounds_.size()]:
  // above the last bound. Not cumulative: cumulated when read.
  const std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_seconds_{0};
};

// Formats a duration as decimal seconds without exponent or trailing zeros:
// 100us -> "0.0001", 2.5s -> "2.5", 60s -> "60". Used for `le` labels.
std::string FormatSeconds(absl::Duration d);

// The default buckets: 100us to 60s for acquire waits, 1ms to 1h for hold times.
std::vector<absl::Duration> AcquireWaitBuckets();
std::vector<absl::Duration> HoldTimeBuckets();
// 50us to 10s, for commits to the store.
std::vector<absl::Duration> CommitTimeBuckets();

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_OBSERVABILITY_HISTOGRAM_H_
