#ifndef SEMAPHORED_ENGINE_TOKEN_SOURCE_H_
#define SEMAPHORED_ENGINE_TOKEN_SOURCE_H_

#include <cstdint>
#include <limits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace semaphored::engine {

// The largest fencing token ever handed out (the state file records the next one,
// which must still fit in 64 bits).
inline constexpr uint64_t kMaxFencingToken = std::numeric_limits<uint64_t>::max() - 1;

// RESOURCE_EXHAUSTED "fencing tokens are exhausted...": what Next() answers once
// kMaxFencingToken has been handed out, instead of wrapping to small numbers.
absl::Status FencingTokensExhausted();

// Hands out fencing tokens: each strictly greater than every one before, at most
// kMaxFencingToken; past that, FencingTokensExhausted() for every call.
// Next() is called with the core's lock held; implementations need no lock of their
// own but must be cheap on average.
class TokenSource {
 public:
  virtual ~TokenSource() = default;
  virtual absl::StatusOr<uint64_t> Next() = 0;
};

}  // namespace semaphored::engine

#endif  // SEMAPHORED_ENGINE_TOKEN_SOURCE_H_
