#ifndef SEMAPHORED_CLIENT_LIB_SRC_CLIENT_STREAM_H_
#define SEMAPHORED_CLIENT_LIB_SRC_CLIENT_STREAM_H_

#include <cstdint>

#include "absl/time/time.h"
#include "semaphored/v1/semaphore.pb.h"

namespace semaphored::internal {

// One StreamSession call. Thread-safe.
class ClientStream {
 public:
  virtual ~ClientStream() = default;
  // Queues `command` for sending, in order. Commands queued while a write is in flight
  // go together in the next message. Never blocks. Dropped once the stream has ended
  // (the observer is told by OnClosed).
  virtual void Send(semaphored::v1::SessionCommand command) = 0;
  // Queues `command` without starting a write: it goes with the next Send, or at the
  // next Flush. For commands whose answer nobody waits for, so that they share a
  // message with what follows.
  virtual void Defer(semaphored::v1::SessionCommand command) = 0;
  // Starts writing the queued commands, if any and no write is in flight.
  virtual void Flush() = 0;
  // Queues `seq` for StreamSessionRequest.acked_seqs: it goes with the next message
  // that carries commands (never a write of its own). Dropped once the stream ended.
  virtual void Acknowledge(uint64_t seq) = 0;
  // Half-closes the stream once the queued commands are written.
  virtual void Finish() = 0;
  // Cancels the stream; OnClosed follows.
  virtual void Cancel() = 0;
  // Waits up to `timeout` until OnClosed has returned; true when it has.
  virtual bool WaitClosed(absl::Duration timeout) = 0;
};

}  // namespace semaphored::internal

#endif  // SEMAPHORED_CLIENT_LIB_SRC_CLIENT_STREAM_H_
