#ifndef SEMAPHORED_CLIENT_LIB_SRC_CANCEL_TOKEN_ACCESS_H_
#define SEMAPHORED_CLIENT_LIB_SRC_CANCEL_TOKEN_ACCESS_H_

#include <cstdint>
#include <functional>

#include "semaphored/types.h"

namespace semaphored::internal {

// The library's side of CancelToken.
class CancelTokenAccess {
 public:
  // Registers `on_cancel` to run (once, on the cancelling thread, without the token's
  // lock) when the token is cancelled. Returns 0 without registering when it already
  // is cancelled.
  static uint64_t Register(CancelToken& token, std::function<void()> on_cancel);
  // Forgets a registration; `on_cancel` may still be running or about to run.
  static void Unregister(CancelToken& token, uint64_t id);
};

}  // namespace semaphored::internal

#endif  // SEMAPHORED_CLIENT_LIB_SRC_CANCEL_TOKEN_ACCESS_H_
