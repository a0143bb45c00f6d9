#ifndef SEMAPHORED_CLIENT_LIB_SRC_CANCEL_REGISTRATION_H_
#define SEMAPHORED_CLIENT_LIB_SRC_CANCEL_REGISTRATION_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "semaphored/types.h"

namespace semaphored::internal {

// Registers a cancellation callback for the lifetime of a wait. A null token is fine
// (nothing is registered).
class CancelRegistration {
 public:
  CancelRegistration(std::shared_ptr<CancelToken> token, std::function<void()> on_cancel);
  ~CancelRegistration();
  CancelRegistration(const CancelRegistration&) = delete;
  CancelRegistration& operator=(const CancelRegistration&) = delete;

  // True when the token was already cancelled (on_cancel was not registered).
  bool already_cancelled() const { return already_cancelled_; }

 private:
  std::shared_ptr<CancelToken> token_;
  uint64_t id_ = 0;
  bool already_cancelled_ = false;
};

}  // namespace semaphored::internal

#endif  // SEMAPHORED_CLIENT_LIB_SRC_CANCEL_REGISTRATION_H_
