#ifndef SEMAPHORED_CLIENT_LIB_SRC_RETRY_POLICY_H_
#define SEMAPHORED_CLIENT_LIB_SRC_RETRY_POLICY_H_

#include <algorithm>
#include <functional>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

// THE retry loop of the client library: only UNAVAILABLE is retried, and only for
// idempotent calls (Test, Ping). Everything else (sets, clears, sessions) is sent
// once, since repeating it could take or release a semaphore twice.
namespace semaphored::internal {

struct RetryPolicy {
  int max_attempts = 3;
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(1);
  // How to wait between attempts (tests replace it, so that they never sleep).
  std::function<void(absl::Duration)> sleep = [](absl::Duration d) {
    absl::SleepFor(d);
  };
};

// Calls `call` until it returns anything but UNAVAILABLE, at most
// policy.max_attempts times, backing off between attempts. Returns the last answer.
template <typename T>
absl::StatusOr<T> RetryIdempotent(const RetryPolicy& policy,
                                  absl::FunctionRef<absl::StatusOr<T>()> call) {
  absl::Duration backoff = policy.initial_backoff;
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<T> result = call();
    if (result.ok() || result.status().code() != absl::StatusCode::kUnavailable ||
        attempt >= policy.max_attempts) {
      return result;
    }
    policy.sleep(backoff);
    backoff = std::min(backoff * 2, policy.max_backoff);
  }
}

}  // namespace semaphored::internal

#endif  // SEMAPHORED_CLIENT_LIB_SRC_RETRY_POLICY_H_
