#include "cancel.h"

#include <utility>
#include <vector>

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

namespace internal {

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

CancelRegistration::CancelRegistration(std::shared_ptr<CancelToken> token,
                                       std::function<void()> on_cancel)
    : token_(std::move(token)) {
  if (token_ == nullptr) return;
  id_ = CancelTokenAccess::Register(*token_, std::move(on_cancel));
  already_cancelled_ = id_ == 0;
}

CancelRegistration::~CancelRegistration() {
  if (token_ != nullptr && id_ != 0) CancelTokenAccess::Unregister(*token_, id_);
}

}  // namespace internal
}  // namespace semaphored
