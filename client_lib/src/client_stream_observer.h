#ifndef SEMAPHORED_CLIENT_LIB_SRC_CLIENT_STREAM_OBSERVER_H_
#define SEMAPHORED_CLIENT_LIB_SRC_CLIENT_STREAM_OBSERVER_H_

#include "absl/status/status.h"
#include "semaphored/v1/semaphore.pb.h"

namespace semaphored::internal {

// Told what happens on one session stream: the answers and pushes it carries, then
// its end. Implemented by RemoteSession.
class ClientStreamObserver {
 public:
  virtual ~ClientStreamObserver() = default;
  // Answers and pushes, in the order the server sent them; one call at a time. May
  // move from `response`. Must not block.
  virtual void OnEvents(semaphored::v1::StreamSessionResponse& response) = 0;
  // The stream has ended with `status`; called once, after the last OnEvents.
  virtual void OnClosed(const absl::Status& status) = 0;
};

}  // namespace semaphored::internal

#endif  // SEMAPHORED_CLIENT_LIB_SRC_CLIENT_STREAM_OBSERVER_H_
