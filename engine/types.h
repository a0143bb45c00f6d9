#ifndef SEMAPHORED_ENGINE_TYPES_H_
#define SEMAPHORED_ENGINE_TYPES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/limits.h"
#include "common/session_id.h"

// Plain value types exchanged with the engine.
namespace semaphored::engine {

// Session ids and request bounds are shared with the server and the client library
// (common/); the engine uses them throughout.
using internal::SessionId;
// Identifies a queued set or wait-for-clear request, for cancellation. 0 means none.
using WaiterId = uint64_t;

struct GrantInfo {
  uint64_t fencing_token = 0;
  int32_t permits = 0;
  absl::Time grant_time;
};

struct HolderSnapshot {
  SessionId session_id = 0;
  std::string client_name;
  GrantInfo grant;
};

struct WaiterInfo {
  SessionId session_id = 0;
  std::string client_name;
  int32_t permits = 0;
  absl::Time enqueue_time;
};

// A semaphore as it stands. A semaphore that does not exist has limit 0.
struct SemaphoreSnapshot {
  std::string name;
  int32_t limit = 0;
  int32_t permits_held = 0;
  std::vector<HolderSnapshot> holders;  // oldest grant first; maybe not all (holder_count)
  int32_t holder_count = 0;         // every holder, listed or not
  int32_t waiter_count = 0;         // set requests in the queue
  std::vector<WaiterInfo> waiters;  // filled by admin listings only
  bool set() const { return permits_held > 0; }
};

// How long a set or wait-for-clear request may wait (checked by the engine, see
// engine/request_checks.h). The engine computes the end of the wait from its own
// clock when the request arrives: min(now + timeout, deadline); when that is not
// after now, the request tries once.
struct WaitLimit {
  // Zero (the default): try once, whatever `deadline` says. absl::InfiniteDuration():
  // wait until answered, cancelled, `deadline` passes or the session ends. Otherwise
  // 0 to kMaxWait.
  absl::Duration timeout = absl::ZeroDuration();
  // A bound from outside the request, such as the gRPC call's deadline:
  // absl::InfiniteFuture() (the default) when there is none.
  absl::Time deadline = absl::InfiniteFuture();
  // Wait without a limit of its own, as for an infinite timeout, whatever `timeout`
  // says; `timeout` is still checked (the wire's wait_indefinitely does not excuse a
  // bad timeout).
  bool indefinitely = false;
};

// What a set request asks for. The name is assumed valid (the edges validate names);
// limit, permits and the wait are checked by the engine.
struct SetArgs {
  std::string name;
  std::optional<int32_t> limit;  // nullopt: the existing limit, or 1
  int32_t permits = 1;
  WaitLimit wait;  // try once by default
  // The command's sequence number in its session (from 1, increasing), for at-most-once
  // re-sends; 0: not sequenced. See Core's "At most once".
  uint64_t seq = 0;
};

// What a wait-for-clear request asks for; as SetArgs.
struct WaitClearArgs {
  std::string name;
  WaitLimit wait;  // check once by default
  uint64_t seq = 0;  // as SetArgs::seq
};

struct SetOutcome {
  bool acquired = false;
  bool already_held = false;  // the session held it before this request
  GrantInfo grant;            // when acquired
  SemaphoreSnapshot state;    // when not acquired: who holds it
};

struct WaitClearOutcome {
  bool clear = false;
  SemaphoreSnapshot state;
};

// Completion callbacks. Each is called exactly once, never with the core's lock held,
// possibly before the call that registered it returns.
using SetCallback = absl::AnyInvocable<void(absl::StatusOr<SetOutcome>)>;
using WaitClearCallback = absl::AnyInvocable<void(absl::StatusOr<WaitClearOutcome>)>;

struct NewSession {
  std::string secret;  // 32 lowercase hex digits: 128 random bits
  SessionId id = 0;
  absl::Duration ttl;
  absl::Time expire_time;
};

struct SessionSnapshot {
  SessionId id = 0;
  std::string client_name;
  std::string peer;
  absl::Time create_time;
  absl::Time expire_time;
  int32_t held_count = 0;
  int32_t waiting_count = 0;
  std::vector<std::string> held_names;  // filled by GetSession only, in name order
};

// Why a session ended.
enum class SessionEndReason {
  kClosed,       // the client closed it
  kExpired,      // no keepalive within its TTL
  kAdmin,        // an administrator ended it
  kStreamEnded,  // the client's session stream ended without a close
  kDrain,        // the server is shutting down
};

struct SessionEnd {
  SessionId id = 0;
  std::string client_name;
  SessionEndReason reason = SessionEndReason::kClosed;
  int32_t released = 0;  // semaphores it held
};

// Gauges, read at any time.
struct CoreCounts {
  int64_t sessions = 0;         // live sessions
  int64_t semaphores = 0;       // existing (set or waited on)
  // (session, semaphore) pairs holding permits, including those of ended sessions
  // still being released (see Core::CloseSession).
  int64_t held_semaphores = 0;
  int64_t waiters = 0;          // queued set and wait-for-clear requests, likewise
  // Peers tracked for the per-peer limits: those with sessions, and those without
  // until their session-creation bucket has refilled.
  int64_t peers = 0;
  // Ended sessions whose holds and waiters are still being released in slices.
  int64_t ending_sessions = 0;
};

}  // namespace semaphored::engine

#endif  // SEMAPHORED_ENGINE_TYPES_H_
