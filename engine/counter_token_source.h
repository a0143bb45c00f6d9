#ifndef SEMAPHORED_ENGINE_COUNTER_TOKEN_SOURCE_H_
#define SEMAPHORED_ENGINE_COUNTER_TOKEN_SOURCE_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "engine/token_source.h"

namespace semaphored::engine {

// Tokens from an in-memory counter starting after `last`. Not durable: for local
// semaphores and tests.
class CounterTokenSource final : public TokenSource {
 public:
  explicit CounterTokenSource(uint64_t last = 0) : last_(last) {}
  absl::StatusOr<uint64_t> Next() override {
    if (last_ >= kMaxFencingToken) return FencingTokensExhausted();
    return ++last_;
  }

 private:
  uint64_t last_;
};

}  // namespace semaphored::engine

#endif  // SEMAPHORED_ENGINE_COUNTER_TOKEN_SOURCE_H_
