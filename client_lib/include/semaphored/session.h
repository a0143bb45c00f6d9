#ifndef SEMAPHORED_SESSION_H_
#define SEMAPHORED_SESSION_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "semaphored/export.h"
#include "semaphored/permit.h"
#include "semaphored/types.h"

namespace semaphored {

namespace internal {
class SessionRouter;
}  // namespace internal

// How to open a session.
struct SessionOptions {
  // Shown to other clients and operators as the holder. Empty: the client's name
  // (ClientOptions::client_name). 0 to 255 bytes of UTF-8.
  std::string client_name;
  // How long the server keeps the session without a keepalive. Zero: the server's
  // default. The library sends a keepalive every ttl/3 in the background.
  absl::Duration ttl = absl::ZeroDuration();
  // Called once when the session is lost (see IsSessionLost): the server said it has
  // ended (closed, expired, ended by an operator, unknown after a restart of a server
  // that keeps no state), or no server answered for the session's whole TTL. Not
  // called for Close().
  std::function<void(const absl::Status& why)> on_session_lost;
  // Called when the connection to the server breaks (the server restarted, or the
  // network failed): the session may still be alive, and the library is resuming it
  // (reconnecting with backoff). `why` is UNAVAILABLE. Permits stay held meanwhile;
  // calls wait for the resume.
  std::function<void(const absl::Status& why)> on_session_interrupted;
  // Called when an interrupted session has resumed: the server knows it, every permit
  // is held with its fencing token, and every call sent but not answered has been sent
  // again (each is applied at most once).
  std::function<void()> on_session_resumed;
  // Called when an operator revokes (force-clears) a semaphore the session holds.
  // `why` is ABORTED with the operator's reason.
  std::function<void(const std::string& name, const absl::Status& why)> on_revoked;
  // Called when a release done in the background (a Permit destroyed) fails for a
  // reason not reported otherwise. Without it, the first such error is returned by
  // Close().
  std::function<void(const std::string& name, const absl::Status& error)>
      on_release_error;
};
// Callbacks run on a library thread, one at a time and in order, never while a
// library lock is held; they may call into the library (even Close()). No callback
// starts after Close() has returned. A callback that blocks delays the next ones
// (and a Close() called from another thread, which waits for a running callback).

// A session: the owner of semaphores. Opened by Client::OpenSession.
//
// Names starting with '$' are local semaphores, served in this process with exactly
// the same semantics (ownership by session, FIFO, counting, timeouts, wait-for-clear,
// fencing) and never sent to the server; every other name is global, on the server.
// Names are checked first: a bad one fails with INVALID_ARGUMENT saying which rule it
// breaks, without any round trip.
//
// Every call blocks until it has its answer (a wait up to its timeout). All methods
// are thread-safe: many threads may use one session at once; its semaphores belong
// to the session, not to a thread.
//
// Interrupted session: when the connection breaks, the session is not given up: the
// library calls on_session_interrupted, reconnects (backoff from 50 ms to 1 s), presents
// the session's secret, re-sends every command not answered (numbered, so that the
// server applies each at most once and answers a repeat with its first answer), and
// calls on_session_resumed. A server with a data dir keeps the session across its
// restart: permits stay held with the same tokens and a waiting Acquire keeps its
// place. Calls made meanwhile wait for the resume.
//
// Lost session: when the server ends the session (expired, ended by an operator,
// shutting down without a data dir, unknown to it after a restart) or no server
// answered for the session's whole TTL, on_session_lost is called once, global
// Permits report not held, and every later call on a global name (and Close()) fails
// with the session's error (IsSessionLost() true). Local '$' semaphores are not
// affected: nothing outside this process can take them away, so they stay held and
// usable until Close().
//
// Destroying the Session closes it (see Close()); it must not be destroyed while
// other threads are still calling it (Close() may be called concurrently, though).
class SEMAPHORED_EXPORT Session {
 public:
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Sets `name` for this session and returns an RAII Permit (see permit.h), waiting
  // as `options` say. Not getting the semaphore (a try, or a timeout) is an OK answer
  // with permit.acquired() false. Re-acquiring a name the session holds succeeds
  // at once (already_held). Errors: see errors.h (INVALID_ARGUMENT,
  // FAILED_PRECONDITION for a limit mismatch, CANCELLED, RESOURCE_EXHAUSTED, the
  // session's error when lost or closed).
  absl::StatusOr<Permit> Acquire(std::string_view name, AcquireOptions options = {});

  // As Acquire, but the grant is not tied to an object: it stays until Clear(name),
  // Close(), revocation or loss. For code ported from 4D or SEMMGR.
  absl::StatusOr<SetResult> Set(std::string_view name, AcquireOptions options = {});

  // Clears every permit this session holds on `name`, waiting for the answer. Permits
  // sharing that grant then report not held. NOT_FOUND when this session does not
  // hold it and nobody does; PERMISSION_DENIED (naming the holder) when another
  // session holds it.
  absl::Status Clear(std::string_view name);

  // The semaphore as it stands: whether it is set, by whom, since when, the limit and
  // how many wait. Does not set it.
  absl::StatusOr<SemaphoreInfo> Test(std::string_view name);

  // Waits until `name` is not set (without setting it), up to `timeout` (zero: check
  // once; absl::InfiniteDuration(): no limit; else at most 24 hours). Returns true
  // when it is clear, false when the timeout passed first. CANCELLED through `cancel`.
  absl::StatusOr<bool> WaitClear(std::string_view name,
                                 absl::Duration timeout = absl::InfiniteDuration(),
                                 std::shared_ptr<CancelToken> cancel = nullptr);

  // Ends the session: releases everything it holds (global and local) at once, and
  // answers its waiting calls with FAILED_PRECONDITION "closed". Waits for the
  // server's answer (bounded by ClientOptions::call_timeout). Later calls fail with
  // FAILED_PRECONDITION. Returns the session's error when it had been lost, the first
  // unreported background release error if any, else OK. Idempotent.
  absl::Status Close();

  // OK while the session is usable for global names; else the error later calls get.
  absl::Status status() const;
  // The public session id (16 hex digits): holders of global semaphores are shown by
  // it. For a client without a server it is the local id.
  const std::string& id() const;
  // The id holders of '$' semaphores are shown by (see HolderInfo).
  const std::string& local_id() const;
  const std::string& client_name() const;
  // The TTL the server applied (zero for a client without a server).
  absl::Duration ttl() const;

 private:
  friend class Client;
  explicit Session(std::shared_ptr<internal::SessionRouter> impl);

  std::shared_ptr<internal::SessionRouter> impl_;
};

}  // namespace semaphored

#endif  // SEMAPHORED_SESSION_H_
