#ifndef SEMAPHORED_CLIENT_LIB_SRC_LOCAL_SESSION_H_
#define SEMAPHORED_CLIENT_LIB_SRC_LOCAL_SESSION_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/types.h"
#include "grant_holder.h"
#include "grant_or_state.h"
#include "grant_state.h"
#include "local_core.h"
#include "semaphored/types.h"
#include "session_backend.h"

namespace semaphored::internal {

// The '$' names of one session: a session of the process-wide engine Core (see
// local_core.h), and the grants it holds there.
//
// Locks, in the order they may be taken: op_mu_, mu_, a GrantState's. mu_ is never
// held while calling the core: the core answers on the calling thread when it can,
// and those answers take mu_. Neither is held while taking a lock of another
// backend. Thread-safe.
class LocalSession final : public SessionBackend,
                           public GrantHolder,
                           public std::enable_shared_from_this<LocalSession> {
 public:
  // Opens a session of `local.core` for `client_name`.
  static absl::StatusOr<std::shared_ptr<LocalSession>> Open(
      LocalCore local, const std::string& client_name,
      absl::Duration ttl);
  ~LocalSession() override;

  // The id that errors about the closed session show (the public session id). Call
  // once, before the session is used.
  void set_public_id(std::string id) { public_id_ = std::move(id); }
  // The core session's id as text (holders of '$' names are shown by it).
  const std::string& local_id() const { return local_id_; }

  // SessionBackend.
  absl::StatusOr<GrantOrState> Set(absl::string_view name,
                                   const AcquireOptions& options,
                                   bool for_permit) override
      ABSL_LOCKS_EXCLUDED(op_mu_, mu_);
  absl::Status Clear(absl::string_view name) override ABSL_LOCKS_EXCLUDED(op_mu_, mu_);
  absl::StatusOr<SemaphoreInfo> Test(absl::string_view name) override
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<bool> WaitClear(absl::string_view name, absl::Duration timeout,
                                 std::shared_ptr<CancelToken> cancel) override
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status status() const override ABSL_LOCKS_EXCLUDED(mu_);
  void BeginClose() override ABSL_LOCKS_EXCLUDED(mu_);
  // Ends the grants and the core session (its waiters are answered, seen as
  // closed). Returns OK.
  absl::Status FinishClose() override ABSL_LOCKS_EXCLUDED(mu_);

  // GrantHolder.
  void DropPermit(const std::shared_ptr<GrantState>& grant) override
      ABSL_LOCKS_EXCLUDED(op_mu_, mu_);
  absl::Status ReleaseGrant(const std::shared_ptr<GrantState>& grant) override
      ABSL_LOCKS_EXCLUDED(op_mu_, mu_);

 private:
  friend class SessionRouter;  // its lock order names the locks here
  struct SetCall;

  LocalSession(LocalCore local, SessionId session);
  void OnSetDone(SetCall& call, absl::StatusOr<engine::SetOutcome> outcome)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Ends `grant` and clears it in the core; `only_if_last`: as DropPermit.
  absl::Status Release(const std::shared_ptr<GrantState>& grant, bool only_if_last)
      ABSL_LOCKS_EXCLUDED(op_mu_, mu_);
  bool ClosingLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return closing_ || closed_;
  }

  const LocalCore local_;
  const SessionId session_;
  const std::string local_id_;
  std::string public_id_;  // set before use, then constant

  // Serializes the core calls that change what the session holds, with the
  // bookkeeping around them, so that the grants map follows the core's order.
  absl::Mutex op_mu_ ABSL_ACQUIRED_BEFORE(mu_);

  mutable absl::Mutex mu_ ABSL_ACQUIRED_AFTER(op_mu_)
      ABSL_ACQUIRED_BEFORE(GrantState::mu_);
  // State below is protected by mu_.
  bool closing_ ABSL_GUARDED_BY(mu_) = false;  // BeginClose() has run
  bool closed_ ABSL_GUARDED_BY(mu_) = false;   // FinishClose() has ended everything
  // What the session holds, by name (an ended grant is removed at once).
  absl::flat_hash_map<std::string, std::shared_ptr<GrantState>> grants_
      ABSL_GUARDED_BY(mu_);
  // Names cleared while the grant's answer was still on its way.
  absl::flat_hash_set<std::string> orphan_clears_ ABSL_GUARDED_BY(mu_);
};

}  // namespace semaphored::internal

#endif  // SEMAPHORED_CLIENT_LIB_SRC_LOCAL_SESSION_H_
