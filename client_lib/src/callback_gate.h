#ifndef SEMAPHORED_CLIENT_LIB_SRC_CALLBACK_GATE_H_
#define SEMAPHORED_CLIENT_LIB_SRC_CALLBACK_GATE_H_

#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "executor.h"

namespace semaphored::internal {

// The gate a session's user callbacks (on_session_lost, on_revoked,
// on_release_error) pass: they run on the connection's callback executor, never on
// a gRPC thread, and none starts once Close() has begun to wait for them.
//
// Its lock is taken with no other lock of the session held, except the router's
// close lock (see session_router.h); it is never held while a callback runs.
// Thread-safe.
class CallbackGate : public std::enable_shared_from_this<CallbackGate> {
 public:
  // Runs `callback` on `executor` unless the gate is closed by then (or gone).
  void Post(Executor& executor, absl::AnyInvocable<void()> callback)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Closes the gate and waits for a running callback to return, unless called from
  // that callback (a callback that closes its own session cannot wait for itself).
  void Close() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  friend class SessionRouter;  // its lock order names the locks here
  void Run(absl::AnyInvocable<void()>& callback) ABSL_LOCKS_EXCLUDED(mu_);

  absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  std::thread::id running_thread_ ABSL_GUARDED_BY(mu_);
};

}  // namespace semaphored::internal

#endif  // SEMAPHORED_CLIENT_LIB_SRC_CALLBACK_GATE_H_
