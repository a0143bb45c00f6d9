// MemoryStore: keeps nothing.
#include "store/memory_store.h"

namespace semaphored::store {

absl::StatusOr<engine::StoredState> MemoryStore::Load() { return engine::StoredState{}; }

absl::Status MemoryStore::Commit(const engine::EffectBatch& /*batch*/) {
  return absl::OkStatus();
}

std::string MemoryStore::Describe() const { return "in memory: state is lost on restart"; }

}  // namespace semaphored::store
