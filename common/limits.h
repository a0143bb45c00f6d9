#ifndef SEMAPHORED_COMMON_LIMITS_H_
#define SEMAPHORED_COMMON_LIMITS_H_

#include <cstdint>

#include "absl/time/time.h"

// Bounds on request arguments that the engine enforces and both sides know.
namespace semaphored::internal {

// The largest limit (and so the most permits) a semaphore may have.
inline constexpr int32_t kMaxLimit = 1'000'000;
// The longest a set or wait-for-clear request may wait.
inline constexpr absl::Duration kMaxWait = absl::Hours(24);

}  // namespace semaphored::internal

#endif  // SEMAPHORED_COMMON_LIMITS_H_
