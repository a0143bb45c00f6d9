#ifndef SEMAPHORED_TYPES_H_
#define SEMAPHORED_TYPES_H_

// Plain value types of the semaphored client API, and the cancellation token.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "semaphored/export.h"

namespace semaphored {

namespace internal {
class CancelTokenAccess;
}  // namespace internal

// Lets one thread cancel a waiting Acquire or WaitClear issued by another thread.
//
//   auto cancel = std::make_shared<semaphored::CancelToken>();
//   AcquireOptions options;
//   options.timeout = absl::InfiniteDuration();
//   options.cancel = cancel;
//   // thread A: session.Acquire("jobs", options)  -> CANCELLED once B cancels
//   // thread B: cancel->Cancel();
//
// A token is one-shot: once cancelled it stays cancelled, and every call given it
// afterwards fails with CANCELLED at once. One token may serve several calls at the
// same time; Cancel() cancels them all. A cancellation that races with a grant may
// lose: the call then returns the grant, which the caller owns as usual.
//
// Thread-safe.
class SEMAPHORED_EXPORT CancelToken {
 public:
  CancelToken() = default;
  CancelToken(const CancelToken&) = delete;
  CancelToken& operator=(const CancelToken&) = delete;

  // Cancels every call waiting with this token, now and later. Idempotent. Does not
  // wait for the calls to return.
  void Cancel() ABSL_LOCKS_EXCLUDED(mu_);
  bool cancelled() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  friend class internal::CancelTokenAccess;

  mutable absl::Mutex mu_;
  // State below is protected by mu_.
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
  // What to do on Cancel(), for each call waiting with this token.
  std::vector<std::pair<uint64_t, std::function<void()>>> callbacks_
      ABSL_GUARDED_BY(mu_);
};

// How to acquire (set) a semaphore.
struct AcquireOptions {
  // The number of permits the semaphore has (1 to 1,000,000). Unset: the existing
  // semaphore's limit, or 1 (a binary semaphore) when it does not exist yet. A limit
  // that differs from an existing semaphore's fails with FAILED_PRECONDITION.
  std::optional<int32_t> limit;
  // How many permits to take, 1 to the limit.
  int32_t permits = 1;
  // How long to wait while the semaphore is set: zero tries once;
  // absl::InfiniteDuration() waits until granted, cancelled or the session ends;
  // anything else must be positive and at most 24 hours (else INVALID_ARGUMENT).
  absl::Duration timeout = absl::ZeroDuration();
  // Optional: lets another thread cancel the wait (the call then fails CANCELLED).
  std::shared_ptr<CancelToken> cancel;
};

// One session holding permits on a semaphore.
struct HolderInfo {
  // The holder's public session id (16 hex digits). For '$' semaphores this is the
  // holder's Session::local_id().
  std::string session_id;
  // The holder's client name.
  std::string client_name;
  // When its permits were granted.
  absl::Time since;
  // How many permits it holds.
  int32_t permits = 0;
  // The fencing token of its grant.
  uint64_t fencing_token = 0;
};

// A semaphore as it stands. A semaphore that is not set and has no waiters does not
// exist: it is reported with set == false, limit 0 and no holders.
struct SemaphoreInfo {
  std::string name;
  // True when at least one permit is held.
  bool set = false;
  // Its number of permits; 0 when it does not exist.
  int32_t limit = 0;
  // Permits held by all holders together.
  int32_t permits_held = 0;
  // The holders, oldest grant first. For a global semaphore the server lists only the
  // first ones (100 by default, its --max_listed_holders): compare with holder_count.
  std::vector<HolderInfo> holders;
  // How many requests wait to set it.
  int32_t waiter_count = 0;
  // How many sessions hold permits on it, whether listed in `holders` or not (never
  // fewer than holders.size()). The admin service's ListSemaphores lists them all.
  int32_t holder_count = 0;
};

// The answer to Session::Set (the non-RAII acquire).
struct SetResult {
  // True when the session now holds the semaphore.
  bool acquired = false;
  // True when the session already held it: nothing more was taken.
  bool already_held = false;
  // The grant, when acquired.
  uint64_t fencing_token = 0;
  int32_t permits = 0;
  absl::Time since;
  // When not acquired: who holds it.
  SemaphoreInfo state;
};

}  // namespace semaphored

#endif  // SEMAPHORED_TYPES_H_
