#ifndef SEMAPHORED_ENGINE_CORE_TRACER_H_
#define SEMAPHORED_ENGINE_CORE_TRACER_H_

#include <cstdint>

#include "absl/strings/string_view.h"
#include "engine/types.h"

namespace semaphored::engine {

// Exact records of what the core did to its FIFO queues and grants, in the core's own
// order, for history checkers (the torture test, `semaphored --trace_file`). Every
// method is called WITH the core's lock held, so the calls of all cores in the process
// form one total order: implementations must be cheap, must not block for long and
// must not call back into a core. Only set requests are traced as queued/dequeued
// (wait-for-clear requests are not).
class CoreTracer {
 public:
  virtual ~CoreTracer() = default;
  // A set request joined the FIFO queue of `name`.
  virtual void OnQueued(absl::string_view name, SessionId session, WaiterId waiter,
                        int32_t permits) = 0;
  // A queued set request left the queue, whatever the reason. When it left because it
  // was granted, the OnGrant for it (same name and session) is the very next call.
  virtual void OnDequeued(absl::string_view name, SessionId session, WaiterId waiter) = 0;
  // `permits` of `name` (limit `limit`) were granted to `session` with `token`.
  virtual void OnGrant(absl::string_view name, SessionId session, uint64_t token,
                       int32_t permits, int32_t limit) = 0;
  // The grant with `token` was released (clear, session end, force-clear).
  virtual void OnRelease(absl::string_view name, SessionId session, uint64_t token,
                         int32_t permits) = 0;
  // The session ended; the dequeues and releases this causes follow.
  virtual void OnSessionEnded(SessionId session, SessionEndReason reason) = 0;

  // A core restored from its store (a restart) starts from what the store kept: first
  // OnRestored with the store's token high-water, then every restored session, every
  // holder, and every queued set request of each semaphore in queue order (keeping
  // its waiter id). Records after them start from that state.
  virtual void OnRestored(uint64_t token_high_water) {}
  virtual void OnRestoredSession(SessionId session) {}
  virtual void OnRestoredHolder(absl::string_view name, SessionId session, uint64_t token,
                                int32_t permits, int32_t limit) {}
  virtual void OnRestoredWaiter(absl::string_view name, SessionId session, WaiterId waiter,
                                int32_t permits) {}
  // A durable core is about to commit a batch: every record of its effects has been
  // reported. The one call made WITHOUT the core's lock (it may write to a file), so
  // that a record a client saw the effect of is never lost with the process.
  virtual void OnCommitting() {}
};

// Installs `tracer` for every Core in this process from now on; nullptr uninstalls.
// Process-wide (not a Core option) so that the binary can trace its core without
// plumbing; meant for `semaphored --trace_file` and tests. Not owned: it must stay
// alive until every core has stopped calling it (uninstall after the cores are idle,
// then destroy it). Costs one atomic load per event when no tracer is installed.
void SetCoreTracer(CoreTracer* tracer);

}  // namespace semaphored::engine

#endif  // SEMAPHORED_ENGINE_CORE_TRACER_H_
