// CancelTokenAccess: registers the library's cancellation callbacks on a CancelToken.

#include "cancel_token_access.h"

#include <utility>

namespace semaphored::internal {

uint64_t CancelTokenAccess::Register(CancelToken& token,
                                     std::function<void()> on_cancel) {
  absl::MutexLock lock(&token.mu_);
  if (token.cancelled_) return 0;
  const uint64_t id = ++token.next_id_;
  token.callbacks_.emplace_back(id, std::move(on_cancel));
  return id;
}

void CancelTokenAccess::Unregister(CancelToken& token, uint64_t id) {
  std::function<void()> dropped;  // destroyed without the lock
  absl::MutexLock lock(&token.mu_);
  for (auto it = token.callbacks_.begin(); it != token.callbacks_.end(); ++it) {
    if (it->first == id) {
      dropped = std::move(it->second);
      token.callbacks_.erase(it);
      return;
    }
  }
}

}  // namespace semaphored::internal
