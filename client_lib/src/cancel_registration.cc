// CancelRegistration: a cancellation callback registered for the lifetime of a wait.

#include "cancel_registration.h"

#include <utility>

#include "cancel_token_access.h"

namespace semaphored::internal {

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

}  // namespace semaphored::internal
