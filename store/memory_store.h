#ifndef SEMAPHORED_STORE_MEMORY_STORE_H_
#define SEMAPHORED_STORE_MEMORY_STORE_H_

// The store that keeps nothing: the state lives in the engine's memory only and is
// lost on restart (semaphored's behaviour without --data_dir).

#include <string>

#include "engine/store.h"

namespace semaphored::store {

// Load returns an empty state; Commit always succeeds at once and keeps nothing.
// Thread-safe (it has no state).
class MemoryStore final : public engine::Store {
 public:
  absl::StatusOr<engine::StoredState> Load() override;
  absl::Status Commit(const engine::EffectBatch& batch) override;
  std::string Describe() const override;
  bool durable() const override { return false; }
};

}  // namespace semaphored::store

#endif  // SEMAPHORED_STORE_MEMORY_STORE_H_
