#ifndef SEMAPHORED_ENGINE_SESSION_OBSERVER_H_
#define SEMAPHORED_ENGINE_SESSION_OBSERVER_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace semaphored::engine {

// Told about events on one session. Called without the core's lock held, from
// whichever thread caused the event; implementations must not block.
class SessionObserver {
 public:
  virtual ~SessionObserver() = default;
  // The session ended; `reason` is the status later calls on it get.
  virtual void OnSessionEnded(const absl::Status& reason) = 0;
  // A semaphore the session held was taken away.
  virtual void OnRevoked(const std::string& name, uint64_t fencing_token,
                         const std::string& reason) = 0;
};

}  // namespace semaphored::engine

#endif  // SEMAPHORED_ENGINE_SESSION_OBSERVER_H_
