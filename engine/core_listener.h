#ifndef SEMAPHORED_ENGINE_CORE_LISTENER_H_
#define SEMAPHORED_ENGINE_CORE_LISTENER_H_

#include <cstddef>

#include "absl/time/time.h"
#include "engine/types.h"

namespace semaphored::engine {

// Told about every event, for metrics and logs. The On* methods marked "locked" are
// called with the core's lock held: they must be cheap and must not call back into
// the core. OnSessionEnded is called without the lock, after the session ended.
class CoreListener {
 public:
  virtual ~CoreListener() = default;
  virtual void OnGrant(absl::Duration waited) {}     // locked
  virtual void OnRelease(absl::Duration held) {}     // locked
  virtual void OnWaitTimeout() {}                    // locked
  virtual void OnForceClear() {}                     // locked
  virtual void OnSessionEnded(const SessionEnd& end) {}
  // A batch of `effects` committed to the store in `took`, releasing `answers` held
  // back (with a store only; called without the lock, by the committing thread).
  virtual void OnBatchCommitted(size_t effects, size_t answers, absl::Duration took) {}
};

}  // namespace semaphored::engine

#endif  // SEMAPHORED_ENGINE_CORE_LISTENER_H_
