// Picks the store adapter: in memory, or SQLite under --data_dir.

#include "store/open_store.h"

#include <utility>

#include "store/memory_store.h"
#include "store/sqlite_store.h"

namespace semaphored::store {

absl::StatusOr<std::unique_ptr<engine::Store>> OpenStore(const std::string& data_dir) {
  if (data_dir.empty()) return std::make_unique<MemoryStore>();
  absl::StatusOr<std::unique_ptr<SqliteStore>> sqlite = SqliteStore::Open(data_dir);
  if (!sqlite.ok()) return sqlite.status();
  return std::unique_ptr<engine::Store>(std::move(*sqlite));
}

}  // namespace semaphored::store
