#ifndef SEMAPHORED_BENCH_REPORT_H_
#define SEMAPHORED_BENCH_REPORT_H_

// Latency samples and the result table of semaphored_bench.

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace semaphored::bench {

// Latency samples in nanoseconds. Not thread-safe: one per thread, then Merge().
class Samples {
 public:
  void Add(absl::Duration d) { ns_.push_back(absl::ToInt64Nanoseconds(d)); }
  void Merge(const Samples& other);
  size_t size() const { return ns_.size(); }
  // The p-th percentile (0..100) in microseconds; 0 when empty. Sorts.
  double PercentileUs(double p);
  double MeanUs() const;

 private:
  std::vector<int64_t> ns_;
  bool sorted_ = false;
};

// What clients looping a pair (acquire + release) did: one per client thread, then
// Sum()med.
struct PairStats {
  Samples latency;  // one pair (W1, W2) or the acquire's wait alone (W3, W4)
  int64_t pairs = 0;
  int64_t failures = 0;
  double seconds = 0;
  double rate() const { return seconds > 0 ? pairs / seconds : 0; }
  // The clients' stats together, over the time since `start`.
  static PairStats Sum(const std::vector<PairStats>& per, absl::Time start);
};

// One line of the table.
struct Result {
  std::string workload;  // "floor", "W1", ...
  std::string metric;    // "pair p50", "pairs/s", ...
  double value = 0;
  std::string unit;      // "us", "/s", "B", "ns", ""
  // value / the floor's matching quantity measured in this run; nullopt: none.
  std::optional<double> floor_ratio;
  // The target in words ("<= 1.3 x floor p50"); empty: no target.
  std::string target;
  // Whether the target was met; nullopt: no target.
  std::optional<bool> pass;
};

// The collected results. Not thread-safe.
class Report {
 public:
  void Add(Result r) { results_.push_back(std::move(r)); }
  // A note printed under the table and stored in the JSON (e.g. how FIFO was checked).
  void Note(std::string note) { notes_.push_back(std::move(note)); }
  void PrintTable(std::ostream& out) const;
  // Writes {"results": [...], "notes": [...], "elapsed_s": ...}; false on I/O error.
  bool WriteJson(const std::string& path, double elapsed_s) const;
  const std::vector<Result>& results() const { return results_; }

 private:
  std::vector<Result> results_;
  std::vector<std::string> notes_;
};

}  // namespace semaphored::bench

#endif  // SEMAPHORED_BENCH_REPORT_H_
