#ifndef SEMAPHORED_SERVER_OBSERVABILITY_METRICS_H_
#define SEMAPHORED_SERVER_OBSERVABILITY_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/types.h"
#include "engine/core_listener.h"
#include "server/observability/histogram.h"

namespace semaphored::server {

// The server's Prometheus metrics. Render() gives the text exposition (format 0.0.4)
// of every metric below; no label ever carries a semaphore name or a session id.
//
//   semaphored_sessions                  gauge      live sessions
//   semaphored_semaphores                gauge      existing semaphores
//   semaphored_held_semaphores           gauge      (session, semaphore) pairs holding
//   semaphored_waiters                   gauge      queued set and wait-for-clear requests
//   semaphored_sessions_created_total    counter
//   semaphored_sessions_ended_total      counter    reason="closed"|"expired"
//   semaphored_grants_total              counter
//   semaphored_wait_timeouts_total       counter
//   semaphored_force_clears_total        counter
//   semaphored_rejected_requests_total   counter    code="INVALID_ARGUMENT"... (gRPC codes)
//   semaphored_requests_total            counter    method="..." (RPC method names)
//   semaphored_acquire_wait_seconds      histogram
//   semaphored_hold_seconds              histogram
//   semaphored_store_commits_total       counter    batches committed to a durable store
//   semaphored_store_committed_effects_total  counter  effects in those batches
//   semaphored_store_committed_answers_total  counter  answers they released (the
//                                        operations per batch: rate of this over the
//                                        rate of commits)
//   semaphored_store_commit_seconds      histogram  one commit (transaction + fsync)
//   semaphored_store_load_seconds        gauge      loading the store at start
//
// Gauges are read from the owner's CoreCounts source at scrape time; everything else
// is counted here, from the core (as its CoreListener) and from the gRPC layer.
//
// Thread-safe. The CoreListener methods are lock-free and never allocate (they run
// with the core's lock held). Render() calls the counts source, so it must not be
// called with the core's lock held.
class Metrics final : public engine::CoreListener {
 public:
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Where the gauges come from, typically [&core] { return core.Counts(); }. Called
  // by Render() from the scraping thread. Without a source the gauges read 0.
  void SetCountsSource(std::function<engine::CoreCounts()> source) ABSL_LOCKS_EXCLUDED(mu_);

  // --- CoreListener ---
  void OnGrant(absl::Duration waited) override;
  void OnRelease(absl::Duration held) override;
  void OnWaitTimeout() override;
  void OnSessionEnded(const engine::SessionEnd& end) override;
  void OnForceClear() override;
  void OnBatchCommitted(size_t effects, size_t answers, absl::Duration took) override;

  // How long loading the store took at start.
  void SetLoaded(absl::Duration took);

  // --- Called by the gRPC layer ---

  // A session was opened.
  void RecordSessionCreated();
  // A request was answered with `code` (OK is ignored; codes outside gRPC's range
  // count as UNKNOWN). Lock-free.
  void RecordRejected(absl::StatusCode code);
  // A request for RPC `method` (a short constant such as "Set") arrived. Takes a small
  // lock. At most kMaxMethods distinct names are kept; later ones count as "other".
  void RecordRequest(absl::string_view method) ABSL_LOCKS_EXCLUDED(mu_);
  static constexpr size_t kMaxMethods = 64;

  // The text exposition of every metric, each with HELP and TYPE lines.
  std::string Render() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // gRPC status codes are 0 (OK) to 16 (UNAUTHENTICATED).
  static constexpr int kCodeCount = 17;

  void RenderCounters(std::string* out) const ABSL_LOCKS_EXCLUDED(mu_);

  std::atomic<uint64_t> sessions_created_{0};
  std::atomic<uint64_t> sessions_closed_{0};
  std::atomic<uint64_t> sessions_expired_{0};
  std::atomic<uint64_t> grants_{0};
  std::atomic<uint64_t> wait_timeouts_{0};
  std::atomic<uint64_t> force_clears_{0};
  std::array<std::atomic<uint64_t>, kCodeCount> rejected_{};
  DurationHistogram acquire_wait_;
  DurationHistogram hold_time_;
  std::atomic<uint64_t> commits_{0};
  std::atomic<uint64_t> committed_effects_{0};
  std::atomic<uint64_t> committed_answers_{0};
  DurationHistogram commit_time_;
  std::atomic<int64_t> load_nanos_{0};

  mutable absl::Mutex mu_;
  // State below is protected by mu_.
  std::function<engine::CoreCounts()> counts_source_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, uint64_t> requests_ ABSL_GUARDED_BY(mu_);
};

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_OBSERVABILITY_METRICS_H_
