#ifndef SEMAPHORED_CLIENT_LIB_SRC_SESSION_IMPL_H_
#define SEMAPHORED_CLIENT_LIB_SRC_SESSION_IMPL_H_

#include <cstdint>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "connection.h"
#include "grant.h"
#include "semaphored/session.h"
#include "semaphored/types.h"
#include "engine/types.h"
#include "stub.h"

namespace semaphored::internal {

// What a set got: the public answer and, when acquired, the (possibly shared) grant.
struct SetAnswer {
  bool acquired = false;
  bool already_held = false;
  SemaphoreInfo state;  // when not acquired
  std::shared_ptr<GrantState> grant;
};

// The implementation of Session (see session.h for the contract).
//
// Global names go over one StreamSession stream: every command gets a command_id and
// a Call waiting for its answer; answers and pushes are applied in stream order, so
// the map of grants mirrors what the server holds for the session. '$' names go to
// the process-wide local Core with a local core session.
//
// Locks, in the order they may be taken: close_mu_, local_mu_, mu_, cb_mu_, a
// GrantState's. mu_ is never held while calling the local core (its callbacks take
// mu_) nor while running user callbacks; cb_mu_ is never held while taking another
// lock (nor while a user callback runs). Thread-safe.
class SessionImpl final : public ClientStreamObserver,
                          public std::enable_shared_from_this<SessionImpl> {
 public:
  // Opens the session: a local core session, and (with a server) CreateSession and
  // the stream.
  static absl::StatusOr<std::shared_ptr<SessionImpl>> Open(
      std::shared_ptr<Connection> connection, SessionOptions options);
  ~SessionImpl() override;

  // `for_permit`: the grant is shared by Permits (counted); else it is pinned (Set).
  absl::StatusOr<SetAnswer> Set(absl::string_view name, const AcquireOptions& options,
                                bool for_permit) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Clear(absl::string_view name) ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<SemaphoreInfo> Test(absl::string_view name) ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<bool> WaitClear(absl::string_view name, absl::Duration timeout,
                                 std::shared_ptr<CancelToken> cancel)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Close() ABSL_LOCKS_EXCLUDED(close_mu_, mu_);
  absl::Status status() const ABSL_LOCKS_EXCLUDED(mu_);

  // A Permit sharing `grant` is gone: releases the grant in the background when it
  // was the last one and the grant is not pinned.
  void DropPermit(const std::shared_ptr<GrantState>& grant) ABSL_LOCKS_EXCLUDED(mu_);
  // Permit::Release: releases `grant` now and waits for the answer.
  absl::Status ReleaseGrant(const std::shared_ptr<GrantState>& grant)
      ABSL_LOCKS_EXCLUDED(mu_);

  const std::string& id() const { return id_; }
  const std::string& local_id() const { return local_id_text_; }
  const std::string& client_name() const { return client_name_; }
  absl::Duration ttl() const { return ttl_; }

  // ClientStreamObserver.
  void OnEvents(semaphored::v1::StreamSessionResponse& response) override
      ABSL_LOCKS_EXCLUDED(mu_);
  void OnClosed(const absl::Status& status) override ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Call;
  struct LocalCall;
  // Work found under mu_ and done after it is released.
  struct Followups {
    std::vector<absl::AnyInvocable<void()>> callbacks;  // user callbacks to post
    bool cancel_stream = false;
  };

  SessionImpl(std::shared_ptr<Connection> connection, SessionOptions options,
              std::string client_name);
  absl::Status OpenRemote() ABSL_LOCKS_EXCLUDED(mu_);
  // The error a call on a global name gets now (closed, lost, no server), or OK.
  absl::Status GlobalUsableLocked(absl::string_view name) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ClosedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RunFollowups(Followups& followups) ABSL_LOCKS_EXCLUDED(mu_);
  // Runs a user callback unless the session has been closed (see cb_mu_).
  void RunCallback(absl::AnyInvocable<void()>& callback) ABSL_LOCKS_EXCLUDED(cb_mu_);
  void CloseCallbacks() ABSL_LOCKS_EXCLUDED(cb_mu_);

  // --- Global names (session_global.cc) ---
  // Sends `command` with a new command_id, answered into `call`. `defer`: see
  // ClientStream::Defer (the caller arranges a Flush).
  void SendLocked(semaphored::v1::SessionCommand command, std::shared_ptr<Call> call,
                  bool defer = false) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends and waits for the answer (the cancel token, if any, cancels the command).
  absl::Status Roundtrip(semaphored::v1::SessionCommand command,
                         const std::shared_ptr<Call>& call,
                         const std::shared_ptr<CancelToken>& cancel)
      ABSL_LOCKS_EXCLUDED(mu_);
  void CancelCommand(uint64_t command_id) ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<SetAnswer> GlobalSet(absl::string_view name,
                                      const AcquireOptions& options, bool for_permit);
  absl::Status GlobalClear(absl::string_view name);
  absl::StatusOr<SemaphoreInfo> GlobalTest(absl::string_view name);
  absl::StatusOr<bool> GlobalWaitClear(absl::string_view name, absl::Duration timeout,
                                       std::shared_ptr<CancelToken> cancel);
  void ScheduleKeepalive(absl::Duration after) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Keepalive() ABSL_LOCKS_EXCLUDED(mu_);

  // --- Answers and pushes (session_events.cc) ---
  void HandleEventLocked(semaphored::v1::SessionEvent& event, Followups& followups)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CompleteLocked(Call& call, semaphored::v1::SessionEvent& event,
                      Followups& followups) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplySetLocked(Call& call, const semaphored::v1::SetSemaphoreResponse& set)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseAnsweredLocked(Call& call, const absl::Status& status,
                             Followups& followups) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RevokeLocked(const semaphored::v1::SemaphoreRevokedEvent& revoked,
                    Followups& followups) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Marks the session lost with `why`: fails waiting calls, ends global grants,
  // schedules on_session_lost. Does nothing once lost or closing.
  void LoseLocked(absl::Status why, Followups& followups)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReportReleaseErrorLocked(const std::string& name, absl::Status error,
                                Followups& followups) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- Local '$' names (session_local.cc) ---
  absl::StatusOr<SetAnswer> LocalSet(absl::string_view name,
                                     const AcquireOptions& options, bool for_permit)
      ABSL_LOCKS_EXCLUDED(local_mu_, mu_);
  void OnLocalSetDone(LocalCall& call, absl::StatusOr<engine::SetOutcome> outcome)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status LocalClear(absl::string_view name) ABSL_LOCKS_EXCLUDED(local_mu_, mu_);
  absl::StatusOr<bool> LocalWaitClear(absl::string_view name, absl::Duration timeout,
                                      std::shared_ptr<CancelToken> cancel)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Ends `grant` and clears it in the core; `only_if_last`: as DropPermit.
  absl::Status LocalRelease(const std::shared_ptr<GrantState>& grant, bool only_if_last)
      ABSL_LOCKS_EXCLUDED(local_mu_, mu_);

  const std::shared_ptr<Connection> connection_;
  const SessionOptions options_;
  const std::string client_name_;
  engine::Core* const local_core_;
  // Set by Open, then constant.
  SessionId local_session_ = 0;
  std::string local_id_text_;
  std::string id_;
  absl::Duration ttl_;

  // Serializes Close().
  absl::Mutex close_mu_ ABSL_ACQUIRED_BEFORE(local_mu_);
  bool close_done_ ABSL_GUARDED_BY(close_mu_) = false;
  absl::Status close_result_ ABSL_GUARDED_BY(close_mu_);

  // Serializes the local core calls that change what the session holds, with the
  // bookkeeping around them, so that the grants map follows the core's order.
  absl::Mutex local_mu_ ABSL_ACQUIRED_BEFORE(mu_);

  mutable absl::Mutex mu_ ABSL_ACQUIRED_AFTER(local_mu_) ABSL_ACQUIRED_BEFORE(cb_mu_);
  // State below is protected by mu_.
  std::shared_ptr<ClientStream> stream_ ABSL_GUARDED_BY(mu_);
  bool closing_ ABSL_GUARDED_BY(mu_) = false;  // Close() has started
  bool closed_ ABSL_GUARDED_BY(mu_) = false;   // Close() has ended everything
  absl::Status lost_ ABSL_GUARDED_BY(mu_);     // the loss error, once lost
  uint64_t last_command_id_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<uint64_t, std::shared_ptr<Call>> pending_ ABSL_GUARDED_BY(mu_);
  // What the session holds, by name (an ended grant stays until its release is
  // answered).
  absl::flat_hash_map<std::string, std::shared_ptr<GrantState>> grants_
      ABSL_GUARDED_BY(mu_);
  // Local names cleared while the grant's answer was still on its way.
  absl::flat_hash_set<std::string> orphan_clears_ ABSL_GUARDED_BY(mu_);
  // Keepalive watchdog: when the server was last heard from, and whether the last
  // check found it silent for over a TTL.
  absl::Time last_heard_ ABSL_GUARDED_BY(mu_);
  bool suspect_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t keepalive_timer_ ABSL_GUARDED_BY(mu_) = 0;
  // The first background release error not reported through a callback.
  absl::Status release_error_ ABSL_GUARDED_BY(mu_);

  // User callbacks: none starts once Close() has begun to wait for them.
  absl::Mutex cb_mu_ ABSL_ACQUIRED_AFTER(mu_);
  bool cb_closed_ ABSL_GUARDED_BY(cb_mu_) = false;
  bool cb_running_ ABSL_GUARDED_BY(cb_mu_) = false;
  std::thread::id cb_thread_ ABSL_GUARDED_BY(cb_mu_);
};

// A command sent on the stream, waiting for its answer.
struct SessionImpl::Call {
  enum class Kind { kSet, kClear, kTest, kWaitClear, kRefresh, kClose, kRelease };
  explicit Call(Kind kind, std::string name = "") : kind(kind), name(std::move(name)) {}

  const Kind kind;
  const std::string name;
  bool for_permit = false;                  // kSet
  std::shared_ptr<GrantState> release;      // kRelease: the grant being released
  bool report_async = false;                // kRelease from a Permit's destructor
  // Filled in before `done` is notified.
  absl::Status status;
  semaphored::v1::SessionEvent event;
  std::shared_ptr<GrantState> grant;        // kSet, when acquired
  absl::Notification done;
};

}  // namespace semaphored::internal

#endif  // SEMAPHORED_CLIENT_LIB_SRC_SESSION_IMPL_H_
