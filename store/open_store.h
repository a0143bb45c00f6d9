#ifndef SEMAPHORED_STORE_OPEN_STORE_H_
#define SEMAPHORED_STORE_OPEN_STORE_H_

// The one place that picks a store adapter from the server's configuration.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/store.h"

namespace semaphored::store {

// `data_dir` empty: the MemoryStore (state lost on restart). Else the SqliteStore in
// that directory, with SqliteStore::Open's errors.
absl::StatusOr<std::unique_ptr<engine::Store>> OpenStore(const std::string& data_dir);

}  // namespace semaphored::store

#endif  // SEMAPHORED_STORE_OPEN_STORE_H_
