#ifndef SEMAPHORED_CLIENT_LIB_SRC_REMOTE_SESSION_H_
#define SEMAPHORED_CLIENT_LIB_SRC_REMOTE_SESSION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "callback_gate.h"
#include "client_stream.h"
#include "connection.h"
#include "grant_holder.h"
#include "grant_or_state.h"
#include "grant_state.h"
#include "semaphored/session.h"
#include "semaphored/types.h"
#include "session_backend.h"

namespace semaphored::internal {

// The global names of one session: the session on the server and everything about
// the connection to it -- the StreamSession stream, command ids and the calls
// waiting for their answers, the grants of global names, the keepalive watchdog,
// resuming after the stream broke, and the loss of the session.
//
// Every command gets a command_id and a Call waiting for its answer; sets, clears and
// waits also get a seq (SessionCommand.seq), so that the server applies each at most
// once. Answers and pushes are applied in stream order (remote_session_events.cc), so
// the map of grants mirrors what the server holds for the session.
//
// Resuming: when the stream ends without the server saying the session ended, the
// session is *interrupted*: stream_ is null, calls stay pending (new ones join them),
// and Reconnect() runs with backoff: it opens a new stream with the secret, sends a
// refresh (whose answer says whether the server still knows the session) and then
// every pending command again, in command_id order, with the same ids and seqs.
// The refresh's OK answer resumes the session; UNAUTHENTICATED, or no answer from any
// stream for over the TTL since the server was last heard, loses it.
//
// Locks, in the order they may be taken: mu_, a GrantState's. mu_ is never held
// while running user callbacks (they go through the CallbackGate) nor while taking a
// lock of another backend. Thread-safe.
class RemoteSession final : public SessionBackend,
                            public GrantHolder,
                            public std::enable_shared_from_this<RemoteSession> {
 public:
  // Creates the session on the server (CreateSession) and opens its stream; fails
  // unless the stream answers its first command. User callbacks of `options` go
  // through `gate`.
  static absl::StatusOr<std::shared_ptr<RemoteSession>> Open(
      std::shared_ptr<Connection> connection, const SessionOptions& options,
      const std::string& client_name, std::shared_ptr<CallbackGate> gate);
  ~RemoteSession() override;

  // The public session id and the TTL the server applied; constant once open.
  const std::string& id() const { return id_; }
  absl::Duration ttl() const { return ttl_; }

  // SessionBackend.
  absl::StatusOr<GrantOrState> Set(absl::string_view name,
                                   const AcquireOptions& options,
                                   bool for_permit) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Clear(absl::string_view name) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<SemaphoreInfo> Test(absl::string_view name) override
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<bool> WaitClear(absl::string_view name, absl::Duration timeout,
                                 std::shared_ptr<CancelToken> cancel) override
      ABSL_LOCKS_EXCLUDED(mu_);
  // Closed once closing, else the loss error once lost, else OK.
  absl::Status status() const override ABSL_LOCKS_EXCLUDED(mu_);
  // Sends the close command (unless lost) and stops sending anything else.
  void BeginClose() override ABSL_LOCKS_EXCLUDED(mu_);
  // Waits for the close answer (up to the call timeout), ends the stream, fails the
  // calls still waiting and ends the grants. Returns the loss error, the close
  // error, or the first background release error not reported by a callback.
  absl::Status FinishClose() override ABSL_LOCKS_EXCLUDED(mu_);

  // GrantHolder.
  void DropPermit(const std::shared_ptr<GrantState>& grant) override
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status ReleaseGrant(const std::shared_ptr<GrantState>& grant) override
      ABSL_LOCKS_EXCLUDED(mu_);

  // What the stream opened as number `generation` carries (a Link forwards it);
  // ignored unless that stream is the current one.
  void OnEvents(uint64_t generation, semaphored::v1::StreamSessionResponse& response)
      ABSL_LOCKS_EXCLUDED(mu_);
  void OnClosed(uint64_t generation, const absl::Status& status)
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  friend class SessionRouter;  // its lock order names the locks here
  struct Call;
  class Link;
  // Work found under mu_ and done after it is released.
  struct Followups {
    std::vector<absl::AnyInvocable<void()>> callbacks;  // user callbacks to post
    bool cancel_stream = false;
  };

  RemoteSession(std::shared_ptr<Connection> connection, const SessionOptions& options,
                std::shared_ptr<CallbackGate> gate);
  absl::Status OpenStream(const std::string& client_name) ABSL_LOCKS_EXCLUDED(mu_);
  // Opens the session's next stream (the next generation) without holding mu_ (gRPC
  // may report a stream's end from inside the call), then, under mu_, makes it
  // stream_ and runs `then` (which sends its first commands) -- unless the session was
  // lost or closed meanwhile or that stream has already ended, in which case the
  // stream is cancelled. Returns whether it became stream_.
  bool OpenNextStream(absl::FunctionRef<void()> then) ABSL_LOCKS_EXCLUDED(mu_);
  // The error a call gets now (closed, lost), or OK.
  absl::Status UsableLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool ClosingLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return closing_ || closed_;
  }
  void RunFollowups(Followups& followups) ABSL_LOCKS_EXCLUDED(mu_);

  // --- Commands (remote_session.cc) ---
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
  void ScheduleKeepalive(absl::Duration after) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Keepalive() ABSL_LOCKS_EXCLUDED(mu_);
  // Loses the session when the server was not heard from for over a TTL; true then.
  bool LoseIfSilentLocked(absl::string_view doing, Followups& followups)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- Resuming (remote_session.cc) ---
  // The stream ended without the session ending: interrupts the session (once per
  // break) and schedules a reconnect.
  void InterruptLocked(const absl::Status& status, Followups& followups)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Reconnect() ABSL_LOCKS_EXCLUDED(mu_);

  // --- Answers and pushes (remote_session_events.cc) ---
  // A closing session's stream `generation` was refused with `status` (unknown
  // session): answers the close (see remote_session_events.cc).
  void EndCloseLocked(uint64_t generation, const absl::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
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
  // Marks the session lost with `why`: fails waiting calls, ends the grants,
  // schedules on_session_lost. Does nothing once lost or closing.
  void LoseLocked(absl::Status why, Followups& followups)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReportReleaseErrorLocked(const std::string& name, absl::Status error,
                                Followups& followups) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::shared_ptr<Connection> connection_;
  const SessionOptions options_;
  const std::shared_ptr<CallbackGate> gate_;
  // Set by Open, then constant.
  std::string id_;
  absl::Duration ttl_;

  mutable absl::Mutex mu_ ABSL_ACQUIRED_BEFORE(GrantState::mu_);
  // State below is protected by mu_.
  std::string secret_ ABSL_GUARDED_BY(mu_);  // presented by every stream
  // The current stream (null while interrupted), its generation and the Link the
  // stream reports to (the only strong reference to it).
  std::shared_ptr<ClientStream> stream_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t ended_generation_ ABSL_GUARDED_BY(mu_) = 0;  // the last stream that ended
  std::shared_ptr<Link> link_ ABSL_GUARDED_BY(mu_);
  bool opened_ ABSL_GUARDED_BY(mu_) = false;  // the first stream answered
  // Resuming: since the stream broke, until a new one's refresh is answered OK.
  bool interrupted_ ABSL_GUARDED_BY(mu_) = false;
  absl::Duration backoff_ ABSL_GUARDED_BY(mu_);
  uint64_t reconnect_timer_ ABSL_GUARDED_BY(mu_) = 0;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;  // BeginClose() has run
  bool closed_ ABSL_GUARDED_BY(mu_) = false;   // FinishClose() has ended everything
  std::shared_ptr<Call> close_call_ ABSL_GUARDED_BY(mu_);  // the close command's
  absl::Status lost_ ABSL_GUARDED_BY(mu_);     // the loss error, once lost
  uint64_t last_command_id_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t last_seq_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<uint64_t, std::shared_ptr<Call>> pending_ ABSL_GUARDED_BY(mu_);
  // What the session holds, by name (an ended grant stays until its release is
  // answered).
  absl::flat_hash_map<std::string, std::shared_ptr<GrantState>> grants_
      ABSL_GUARDED_BY(mu_);
  // Keepalive watchdog: when the server was last heard from, and whether the last
  // check found it silent for over a TTL.
  absl::Time last_heard_ ABSL_GUARDED_BY(mu_);
  bool suspect_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t keepalive_timer_ ABSL_GUARDED_BY(mu_) = 0;
  // The first background release error not reported through a callback.
  absl::Status release_error_ ABSL_GUARDED_BY(mu_);
};

// A command sent on the stream, waiting for its answer.
struct RemoteSession::Call {
  enum class Kind { kSet, kClear, kTest, kWaitClear, kRefresh, kClose, kRelease };
  explicit Call(Kind kind, std::string name = "") : kind(kind), name(std::move(name)) {}

  const Kind kind;
  const std::string name;
  bool for_permit = false;                  // kSet
  std::shared_ptr<GrantState> release;      // kRelease: the grant being released
  bool report_async = false;                // kRelease from a Permit's destructor
  bool resume = false;                      // kRefresh: the first of a resumed stream
  bool cancel_asked = false;                // its caller cancelled it (sent on resumes)
  uint64_t seq = 0;                         // SessionCommand.seq (0: not numbered)
  uint64_t first_stream = 0;                // the generation it was first written to
  semaphored::v1::SessionCommand command;   // as sent, to send again after a break
  // Filled in before `done` is notified.
  absl::Status status;
  semaphored::v1::SessionEvent event;
  std::shared_ptr<GrantState> grant;        // kSet, when acquired
  absl::Notification done;
};

}  // namespace semaphored::internal

#endif  // SEMAPHORED_CLIENT_LIB_SRC_REMOTE_SESSION_H_
