#ifndef SEMAPHORED_SERVER_SERVICE_SERVICE_LIMITS_H_
#define SEMAPHORED_SERVER_SERVICE_SERVICE_LIMITS_H_

// Bounds on the work one request or one StreamSession stream can make the service do,
// so that no client, hostile or buggy, can make the server allocate without bound or
// hold a stream forever.

#include <atomic>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace semaphored::server {

// The most commands one StreamSessionRequest may carry. Part of the protocol (see
// semaphore.proto): a message with more ends its stream with RESOURCE_EXHAUSTED, so
// the C++ library never batches more.
inline constexpr int kMaxCommandsPerMessage = 64;

// Counts what the StreamSession streams of one service did to stay within their
// answer budget (ServiceLimits::stream_answer_budget_bytes). For tests and metrics.
// Thread-safe (atomics); never blocks.
class StreamStats {
 public:
  // The highest number of answer bytes any one stream had queued but not yet sent.
  int64_t max_unsent_bytes() const { return max_unsent_bytes_.load(); }
  // How often a stream stopped running commands and reading messages because its
  // unsent answers had passed the budget.
  int64_t pauses() const { return pauses_.load(); }
  // How often a stream resumed after such a pause.
  int64_t resumes() const { return resumes_.load(); }

  void RecordUnsent(int64_t bytes) {
    int64_t seen = max_unsent_bytes_.load();
    while (bytes > seen && !max_unsent_bytes_.compare_exchange_weak(seen, bytes)) {
    }
  }
  void RecordPause() { pauses_.fetch_add(1); }
  void RecordResume() { resumes_.fetch_add(1); }

 private:
  std::atomic<int64_t> max_unsent_bytes_{0};
  std::atomic<int64_t> pauses_{0};
  std::atomic<int64_t> resumes_{0};
};

struct ServiceLimits {
  // Bytes of answers one StreamSession stream may have queued but not yet sent. It is
  // checked before each command: past it, the stream runs no further command and reads
  // no further message until the client has read enough answers (backpressure), so
  // the answers queued never exceed it by more than one answer and the pushes and
  // completions of already waiting commands (--stream_answer_budget_bytes). At least
  // 64 KiB.
  int64_t stream_answer_budget_bytes = int64_t{1} << 20;
  // How long a new StreamSession stream may take to send its first message (the one
  // with the session secret); then it ends with DEADLINE_EXCEEDED
  // (--stream_first_message_timeout). Positive.
  absl::Duration stream_first_message_timeout = absl::Seconds(10);
  // For tests: counts every stream's backlog. Not owned; must outlive the service.
  // Null: not counted.
  StreamStats* stream_stats = nullptr;
};

// The smallest answer budget accepted: room for a few of the largest answers.
inline constexpr int64_t kMinStreamAnswerBudgetBytes = 64 * 1024;

// INVALID_ARGUMENT naming the flag when a limit is out of its range (see above).
inline absl::Status CheckServiceLimits(const ServiceLimits& limits) {
  if (limits.stream_answer_budget_bytes < kMinStreamAnswerBudgetBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("--stream_answer_budget_bytes must be at least ",
                     kMinStreamAnswerBudgetBytes, "; got ",
                     limits.stream_answer_budget_bytes));
  }
  if (limits.stream_first_message_timeout <= absl::ZeroDuration() ||
      limits.stream_first_message_timeout == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--stream_first_message_timeout must be positive and finite; got ",
                     absl::FormatDuration(limits.stream_first_message_timeout)));
  }
  return absl::OkStatus();
}

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_SERVICE_SERVICE_LIMITS_H_
