// The server's log events, one function per event.

#include "server/observability/server_events.h"

#include <time.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace semaphored::server {

using ::semaphored::internal::FormatSessionId;
using ::semaphored::internal::SessionId;

using engine::HolderSnapshot;
using engine::SessionEndReason;

absl::string_view SessionEndReasonName(SessionEndReason reason) {
  switch (reason) {
    case SessionEndReason::kClosed: return "closed";
    case SessionEndReason::kExpired: return "expired";
    case SessionEndReason::kAdmin: return "admin";
    case SessionEndReason::kStreamEnded: return "stream_ended";
    case SessionEndReason::kDrain: return "drain";
  }
  return "closed";
}

void LogSessionStart(const Logger& logger, SessionId session, absl::string_view client,
                     absl::string_view peer, absl::Duration ttl) {
  logger.Log(LogLevel::kInfo, "session_start",
             {{"session", FormatSessionId(session)},
              {"client", client},
              {"peer", peer},
              {"ttl", ttl}});
}

void LogSessionEnd(const Logger& logger, SessionId session, absl::string_view client,
                   SessionEndReason reason, int32_t released) {
  const LogLevel level =
      reason == SessionEndReason::kExpired ? LogLevel::kWarn : LogLevel::kInfo;
  const std::string id = FormatSessionId(session);
  const absl::string_view why = SessionEndReasonName(reason);
  if (released < 0) {
    logger.Log(level, "session_end", {{"session", id}, {"client", client}, {"reason", why}});
  } else {
    logger.Log(level, "session_end",
               {{"session", id}, {"client", client}, {"reason", why}, {"released", released}});
  }
}

void LogAdminForceClear(const Logger& logger, absl::string_view by, absl::string_view why,
                        absl::string_view name, absl::Span<const HolderSnapshot> revoked) {
  std::vector<std::string> holders;
  holders.reserve(revoked.size());
  for (const HolderSnapshot& h : revoked) holders.push_back(FormatSessionId(h.session_id));
  logger.Log(LogLevel::kInfo, "admin_force_clear",
             {{"name", name}, {"holders", absl::StrJoin(holders, ",")}, {"by", by},
              {"why", why}});
}

void LogAdminEndSession(const Logger& logger, absl::string_view by, absl::string_view why,
                        SessionId session, int32_t released) {
  logger.Log(LogLevel::kInfo, "admin_end_session",
             {{"session", FormatSessionId(session)}, {"released", released}, {"by", by},
              {"why", why}});
}

void LogAdminRefused(const Logger& logger, absl::string_view action, absl::string_view by,
                     absl::string_view why, absl::string_view target,
                     const absl::Status& status) {
  std::vector<LogField> fields;
  fields.reserve(6);
  fields.emplace_back("action", action);
  if (!target.empty()) fields.emplace_back("target", target);
  fields.emplace_back("by", by);
  if (!why.empty()) fields.emplace_back("why", why);
  fields.emplace_back("code", absl::StatusCodeToString(status.code()));
  fields.emplace_back("error", status.message());
  logger.Log(LogLevel::kWarn, "admin_refused", absl::MakeConstSpan(fields));
}

void LogAdminDrain(const Logger& logger, absl::string_view by, absl::string_view why) {
  logger.Log(LogLevel::kInfo, "admin_drain", {{"by", by}, {"why", why}});
}

void LogStoreLoaded(const Logger& logger, absl::string_view store,
                    const engine::LoadSummary& loaded) {
  logger.Log(LogLevel::kInfo, "store_loaded",
             {{"store", store},
              {"sessions", loaded.sessions},
              {"semaphores", loaded.semaphores},
              {"holders", loaded.holders},
              {"waiters", loaded.waiters},
              {"token_high_water", loaded.token_high_water},
              {"took", loaded.took}});
}

void LogStoreFailed(const Logger& logger, absl::string_view store, const absl::Status& error) {
  logger.Log(LogLevel::kError, "store_failed",
             {{"store", store},
              {"code", absl::StatusCodeToString(error.code())},
              {"error", error.message()},
              {"action", "answering nothing more and exiting; a restart loads what the "
                         "store kept"}});
}

void LogDrain(const Logger& logger, absl::string_view trigger, int32_t woken_waiters,
              int32_t ended_sessions) {
  logger.Log(LogLevel::kInfo, "drain",
             {{"trigger", trigger}, {"woken_waiters", woken_waiters},
              {"ended_sessions", ended_sessions}});
}

}  // namespace semaphored::server
