#ifndef SEMAPHORED_CLIENT_LIB_SRC_SESSION_ROUTER_H_
#define SEMAPHORED_CLIENT_LIB_SRC_SESSION_ROUTER_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "callback_gate.h"
#include "connection.h"
#include "grant_or_state.h"
#include "local_session.h"
#include "remote_session.h"
#include "semaphored/session.h"
#include "semaphored/types.h"
#include "session_backend.h"

namespace semaphored::internal {

// The implementation of Session (see session.h for the contract): validates the
// name and timeout of a call, then hands it to one of two backends, chosen once per
// call by the name -- a '$' name to the LocalSession (the process-wide engine Core),
// any other to the RemoteSession (the session on the server; none for a client
// without a server). A Permit goes back to the backend that granted it directly
// (GrantState::holder). The router keeps only what both share: the options, the
// client name, the ids, the serialization of Close(), and the gate of user callbacks.
//
// Locks, in the order they may be taken:
//   1. close_mu_ (here), held through Close();
//   2. one backend's: LocalSession::op_mu_ then LocalSession::mu_, or
//      RemoteSession::mu_ -- never the two backends' at once;
//   3. a GrantState's;
// and CallbackGate::mu_ after close_mu_ only, with no backend lock held. No lock is
// held while a user callback runs. Thread-safe.
class SessionRouter final {
 public:
  // Opens the session: a local core session, and (with a server) the session on the
  // server and its stream.
  static absl::StatusOr<std::shared_ptr<SessionRouter>> Open(
      std::shared_ptr<Connection> connection, SessionOptions options);
  ~SessionRouter();

  // `for_permit`: the grant is shared by Permits (counted); else it is pinned (Set).
  absl::StatusOr<GrantOrState> Set(absl::string_view name, const AcquireOptions& options,
                                   bool for_permit);
  absl::Status Clear(absl::string_view name);
  absl::StatusOr<SemaphoreInfo> Test(absl::string_view name);
  absl::StatusOr<bool> WaitClear(absl::string_view name, absl::Duration timeout,
                                 std::shared_ptr<CancelToken> cancel);
  absl::Status Close() ABSL_LOCKS_EXCLUDED(close_mu_);
  absl::Status status() const;

  const std::string& id() const { return id_; }
  const std::string& local_id() const { return local_->local_id(); }
  const std::string& client_name() const { return client_name_; }
  absl::Duration ttl() const { return ttl_; }

 private:
  SessionRouter(std::shared_ptr<Connection> connection, SessionOptions options,
                std::string client_name);
  // The backend that serves `name`; null for a global name without a server.
  SessionBackend* BackendFor(absl::string_view name) const;
  // What a call on a global name gets without a server: closed, or no server.
  absl::Status NoBackendError(absl::string_view name) const;

  const std::shared_ptr<Connection> connection_;
  const SessionOptions options_;
  const std::string client_name_;
  const std::shared_ptr<CallbackGate> gate_;
  // Set by Open, then constant.
  std::shared_ptr<LocalSession> local_;
  std::shared_ptr<RemoteSession> remote_;  // null without a server
  std::string id_;
  absl::Duration ttl_;

  // Serializes Close(); first in the lock order.
  absl::Mutex close_mu_ ABSL_ACQUIRED_BEFORE(LocalSession::op_mu_, LocalSession::mu_,
                                             RemoteSession::mu_, CallbackGate::mu_);
  bool close_done_ ABSL_GUARDED_BY(close_mu_) = false;
  absl::Status close_result_ ABSL_GUARDED_BY(close_mu_);
};

}  // namespace semaphored::internal

#endif  // SEMAPHORED_CLIENT_LIB_SRC_SESSION_ROUTER_H_
