// CancelToken (semaphored/types.h): cancels the waits registered on it.

#include <utility>
#include <vector>

#include "semaphored/types.h"

namespace semaphored {

void CancelToken::Cancel() {
  std::vector<std::pair<uint64_t, std::function<void()>>> callbacks;
  {
    absl::MutexLock lock(&mu_);
    if (cancelled_) return;
    cancelled_ = true;
    callbacks.swap(callbacks_);
  }
  for (auto& [id, callback] : callbacks) callback();
}

bool CancelToken::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

}  // namespace semaphored
