#ifndef SEMAPHORED_STORE_STORED_TIME_H_
#define SEMAPHORED_STORE_STORED_TIME_H_

// Times and durations as the store adapters keep them: 64-bit nanoseconds (since the
// Unix epoch, for times), with absl's infinities as INT64_MAX and INT64_MIN.

#include <cstdint>
#include <limits>

#include "absl/time/time.h"

namespace semaphored::store {

inline constexpr int64_t kStoredInfinitePast = std::numeric_limits<int64_t>::min();
inline constexpr int64_t kStoredInfiniteFuture = std::numeric_limits<int64_t>::max();

inline int64_t StoredNanos(absl::Time t) {
  if (t == absl::InfiniteFuture()) return kStoredInfiniteFuture;
  if (t == absl::InfinitePast()) return kStoredInfinitePast;
  return absl::ToUnixNanos(t);
}
inline int64_t StoredNanos(absl::Duration d) {
  if (d == absl::InfiniteDuration()) return kStoredInfiniteFuture;
  if (d == -absl::InfiniteDuration()) return kStoredInfinitePast;
  return absl::ToInt64Nanoseconds(d);
}
inline absl::Time StoredTime(int64_t nanos) {
  if (nanos == kStoredInfiniteFuture) return absl::InfiniteFuture();
  if (nanos == kStoredInfinitePast) return absl::InfinitePast();
  return absl::FromUnixNanos(nanos);
}
inline absl::Duration StoredDuration(int64_t nanos) {
  if (nanos == kStoredInfiniteFuture) return absl::InfiniteDuration();
  if (nanos == kStoredInfinitePast) return -absl::InfiniteDuration();
  return absl::Nanoseconds(nanos);
}

}  // namespace semaphored::store

#endif  // SEMAPHORED_STORE_STORED_TIME_H_
