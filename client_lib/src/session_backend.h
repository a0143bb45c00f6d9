#ifndef SEMAPHORED_CLIENT_LIB_SRC_SESSION_BACKEND_H_
#define SEMAPHORED_CLIENT_LIB_SRC_SESSION_BACKEND_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grant_or_state.h"
#include "semaphored/types.h"

namespace semaphored::internal {

// One half of a session: the calls on the names it serves. LocalSession serves '$'
// names, RemoteSession global ones; SessionRouter picks one per call. Names and
// timeouts are already validated. Thread-safe.
class SessionBackend {
 public:
  virtual ~SessionBackend() = default;

  // `for_permit`: the grant is shared by Permits (counted); else it is pinned (Set).
  virtual absl::StatusOr<GrantOrState> Set(absl::string_view name,
                                           const AcquireOptions& options,
                                           bool for_permit) = 0;
  virtual absl::Status Clear(absl::string_view name) = 0;
  virtual absl::StatusOr<SemaphoreInfo> Test(absl::string_view name) = 0;
  virtual absl::StatusOr<bool> WaitClear(absl::string_view name, absl::Duration timeout,
                                         std::shared_ptr<CancelToken> cancel) = 0;
  // OK while usable; else the error calls get now (closed, lost).
  virtual absl::Status status() const = 0;

  // Closing is in two steps, so that the router can stop both backends before it
  // waits for either. After BeginClose every call fails as closed; FinishClose ends
  // what is held and returns the error closing met (OK for most).
  virtual void BeginClose() = 0;
  virtual absl::Status FinishClose() = 0;
};

}  // namespace semaphored::internal

#endif  // SEMAPHORED_CLIENT_LIB_SRC_SESSION_BACKEND_H_
