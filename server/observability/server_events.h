#ifndef SEMAPHORED_SERVER_OBSERVABILITY_SERVER_EVENTS_H_
#define SEMAPHORED_SERVER_OBSERVABILITY_SERVER_EVENTS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "engine/types.h"
#include "engine/core_tracer.h"
#include "engine/store.h"
#include "server/observability/logger.h"

// The server's log events, one call (and one line) each, so that every call site
// logs the same event the same way. Session ids are written as FormatSessionId
// does; semaphore names and client names are quoted when needed (never truncated).
// Thread-safe (as Logger).
namespace semaphored::server {

// "closed", "expired", "admin", "stream_ended", "drain".
absl::string_view SessionEndReasonName(engine::SessionEndReason reason);

// INFO session_start session=<id> client=<name> peer=<peer> ttl=<10s>
void LogSessionStart(const Logger& logger, internal::SessionId session,
                     absl::string_view client, absl::string_view peer,
                     absl::Duration ttl);

// INFO (WARN when expired) session_end session=<id> client=<name> reason=<reason>
//   [released=<n>]   -- released: semaphores it held; omitted when negative (unknown)
void LogSessionEnd(const Logger& logger, internal::SessionId session,
                   absl::string_view client, engine::SessionEndReason reason,
                   int32_t released = -1);

// `by` says who acted (e.g. the admin's peer address); `why` is the operator's reason.

// INFO admin_force_clear name=<name> holders=<id>,<id> by=<who> why=<why>
void LogAdminForceClear(const Logger& logger, absl::string_view by, absl::string_view why,
                        absl::string_view name, absl::Span<const engine::HolderSnapshot> revoked);

// INFO admin_end_session session=<id> released=<n> by=<who> why=<why>
void LogAdminEndSession(const Logger& logger, absl::string_view by, absl::string_view why,
                        internal::SessionId session, int32_t released);

// WARN admin_refused action=<action> [target=<name or id>] by=<who> [why=<why>]
//   code=<CODE> error=<message>
//   (an administrative call failed: refused credential, bad request, or the core's
//   error; target and why are omitted when empty)
void LogAdminRefused(const Logger& logger, absl::string_view action, absl::string_view by,
                     absl::string_view why, absl::string_view target,
                     const absl::Status& status);

// INFO admin_drain by=<who> why=<why>   (an administrator asked for a drain)
void LogAdminDrain(const Logger& logger, absl::string_view by, absl::string_view why);

// INFO drain trigger=<admin|signal|...> woken_waiters=<n> ended_sessions=<n>
//   (the drain happened, whatever asked for it)
void LogDrain(const Logger& logger, absl::string_view trigger, int32_t woken_waiters,
              int32_t ended_sessions);

// INFO store_loaded store=<description> sessions=<n> semaphores=<n> holders=<n>
//   waiters=<n> token_high_water=<n> took=<duration>   (at start, once loaded)
void LogStoreLoaded(const Logger& logger, absl::string_view store,
                    const engine::LoadSummary& loaded);

// ERROR store_failed store=<description> error=<message> action=...
//   (a commit failed: the memory is ahead of the store; the server stops answering)
void LogStoreFailed(const Logger& logger, absl::string_view store, const absl::Status& error);

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_OBSERVABILITY_SERVER_EVENTS_H_
