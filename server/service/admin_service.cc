// AdminService: the administrators' methods, their credential check and audit.

#include "server/service/admin_service.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "common/proto_time.h"
#include "server/observability/server_events.h"
#include "server/service/convert.h"
#include "server/service/unary_call.h"

namespace semaphored::server {

using ::semaphored::internal::FormatSessionId;
using ::semaphored::internal::ParseSessionId;
using ::semaphored::internal::QuoteName;
using ::semaphored::internal::SessionId;
using ::semaphored::internal::ToProtoTimestamp;
using ::semaphored::internal::ValidateGlobalName;
using ::semaphored::internal::ValidateText;
using ::semaphored::internal::kMaxNameBytes;

using engine::Core;
using engine::HolderSnapshot;
using engine::SemaphoreSnapshot;
using engine::SessionSnapshot;
using engine::WaiterInfo;

namespace {

using Raw = grpc::ByteBuffer;

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
constexpr size_t kMaxReasonBytes = 1024;
// A ListSemaphores page stops before the semaphore that would take it past this many
// bytes (it always holds one), so that pages of semaphores with many holders and
// waiters stay far below a client's default 4 MiB receive limit.
constexpr size_t kMaxPageBytes = 1 << 20;

// page_size: 0 means the default; above the maximum is clamped; negative is an error.
absl::StatusOr<int> PageSize(int32_t requested) {
  if (requested < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_size must not be negative (got ", requested, "); 0 means ",
        kDefaultPageSize));
  }
  if (requested == 0) return kDefaultPageSize;
  return std::min<int>(requested, kMaxPageSize);
}

absl::Status BadPageToken() {
  return absl::InvalidArgumentError(
      "page_token was not issued by this server; pass next_page_token from the previous "
      "page, or leave it empty for the first page");
}

absl::Status CheckReason(absl::string_view reason, bool required) {
  if (reason.empty() && required) {
    return absl::InvalidArgumentError(
        "reason is required: say why (it is logged and sent to the holders)");
  }
  return ValidateText("reason", reason, kMaxReasonBytes);
}

absl::StatusOr<SessionId> ParseSessionIdField(absl::string_view text) {
  std::optional<SessionId> id = ParseSessionId(text);
  if (!id.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "session_id ", QuoteName(text),
        " is not a session id: 16 lowercase hex digits, as ListSessions and "
        "TestSemaphore show them"));
  }
  return *id;
}

v1::SessionInfo ToSessionInfo(const SessionSnapshot& s) {
  v1::SessionInfo info;
  info.set_session_id(FormatSessionId(s.id));
  info.set_client_name(s.client_name);
  *info.mutable_create_time() = ToProtoTimestamp(s.create_time);
  *info.mutable_expire_time() = ToProtoTimestamp(s.expire_time);
  info.set_held_count(s.held_count);
  info.set_waiting_count(s.waiting_count);
  info.set_peer(s.peer);
  return info;
}

v1::SemaphoreDetail ToSemaphoreDetail(const SemaphoreSnapshot& snap) {
  v1::SemaphoreDetail detail;
  *detail.mutable_state() = ToSemaphoreState(snap);  // admin listings list every holder
  for (const WaiterInfo& w : snap.waiters) {
    v1::Waiter* waiter = detail.add_waiters();
    waiter->set_session_id(FormatSessionId(w.session_id));
    waiter->set_client_name(w.client_name);
    waiter->set_permits(w.permits);
    *waiter->mutable_enqueue_time() = ToProtoTimestamp(w.enqueue_time);
  }
  return detail;
}

}  // namespace

AdminServiceImpl::AdminServiceImpl(Core* core, AdminServiceOptions options)
    : core_(core),
      options_(std::move(options)),
      observer_(options_.observer != nullptr ? options_.observer
                                             : CallObserver::Null()),
      auth_(options_.auth) {}

void AdminServiceImpl::AuditFailure(absl::string_view action, absl::string_view peer,
                                    absl::string_view why, absl::string_view target,
                                    const absl::Status& status) const {
  if (options_.auth.logger == nullptr) return;
  LogAdminRefused(*options_.auth.logger, action, peer, why, target, status);
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListSemaphores(
    grpc::CallbackServerContext* context, const Raw* in, Raw* out) {
  std::string by;
  return ServeUnaryNow<v1::ListSemaphoresRequest, v1::ListSemaphoresResponse>(
      *observer_, "ListSemaphores",
      [&] { return Authorize(context, "list_semaphores", &by); }, in, out,
      [&](const v1::ListSemaphoresRequest& request,
          v1::ListSemaphoresResponse* response) -> absl::Status {
        absl::StatusOr<int> size = PageSize(request.page_size());
        if (!size.ok()) return size.status();
        if (request.prefix().size() > kMaxNameBytes) {
          return absl::InvalidArgumentError(
              absl::StrCat("prefix is ", request.prefix().size(),
                           " bytes long; names are at most ", kMaxNameBytes));
        }
        std::string after;
        if (!request.page_token().empty() &&
            (!absl::WebSafeBase64Unescape(request.page_token(), &after) ||
             after.empty())) {
          return BadPageToken();
        }
        std::vector<SemaphoreSnapshot> page =
            core_->ListSemaphores(request.prefix(), after, *size + 1);
        bool more = static_cast<int>(page.size()) > *size;
        if (more) page.pop_back();
        size_t page_bytes = 0;
        for (const SemaphoreSnapshot& snap : page) {
          v1::SemaphoreDetail detail = ToSemaphoreDetail(snap);
          page_bytes += detail.ByteSizeLong();
          if (response->semaphores_size() > 0 && page_bytes > kMaxPageBytes) {
            more = true;
            break;
          }
          *response->add_semaphores() = std::move(detail);
        }
        if (more) {
          const v1::SemaphoreDetail& last =
              response->semaphores(response->semaphores_size() - 1);
          response->set_next_page_token(absl::WebSafeBase64Escape(last.state().name()));
        }
        return absl::OkStatus();
      },
      WhenDurable());
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListSessions(
    grpc::CallbackServerContext* context, const Raw* in, Raw* out) {
  std::string by;
  return ServeUnaryNow<v1::ListSessionsRequest, v1::ListSessionsResponse>(
      *observer_, "ListSessions",
      [&] { return Authorize(context, "list_sessions", &by); }, in, out,
      [&](const v1::ListSessionsRequest& request,
          v1::ListSessionsResponse* response) -> absl::Status {
        absl::StatusOr<int> size = PageSize(request.page_size());
        if (!size.ok()) return size.status();
        SessionId after = 0;
        if (!request.page_token().empty()) {
          std::optional<SessionId> parsed = ParseSessionId(request.page_token());
          if (!parsed.has_value()) return BadPageToken();
          after = *parsed;
        }
        std::vector<SessionSnapshot> page = core_->ListSessions(after, *size + 1);
        const bool more = static_cast<int>(page.size()) > *size;
        if (more) page.pop_back();
        for (const SessionSnapshot& s : page) *response->add_sessions() = ToSessionInfo(s);
        if (more) response->set_next_page_token(FormatSessionId(page.back().id));
        return absl::OkStatus();
      },
      WhenDurable());
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetSession(grpc::CallbackServerContext* context,
                                                       const Raw* in, Raw* out) {
  std::string by;
  return ServeUnaryNow<v1::GetSessionRequest, v1::GetSessionResponse>(
      *observer_, "GetSession",
      [&] { return Authorize(context, "get_session", &by); }, in, out,
      [&](const v1::GetSessionRequest& request,
          v1::GetSessionResponse* response) -> absl::Status {
        absl::StatusOr<SessionId> id = ParseSessionIdField(request.session_id());
        if (!id.ok()) return id.status();
        absl::StatusOr<SessionSnapshot> snap = core_->GetSession(*id);
        if (!snap.ok()) return snap.status();
        *response->mutable_session() = ToSessionInfo(*snap);
        for (const std::string& name : snap->held_names) response->add_held_names(name);
        return absl::OkStatus();
      },
      WhenDurable());
}

grpc::ServerUnaryReactor* AdminServiceImpl::EndSession(grpc::CallbackServerContext* context,
                                                       const Raw* in, Raw* out) {
  std::string peer;  // who, for the audit line: set by Authorize
  return ServeUnaryNow<v1::EndSessionRequest, v1::EndSessionResponse>(
      *observer_, "EndSession",
      [&] { return Authorize(context, "end_session", &peer); }, in, out,
      [&](const v1::EndSessionRequest& request,
          v1::EndSessionResponse* response) -> absl::Status {
        absl::StatusOr<SessionId> id = ParseSessionIdField(request.session_id());
        absl::Status status = id.status();
        if (status.ok()) status = CheckReason(request.reason(), /*required=*/true);
        absl::StatusOr<int32_t> released =
            status.ok() ? core_->EndSession(*id, request.reason()) : status;
        if (!released.ok()) {
          AuditFailure("end_session", peer, request.reason(), request.session_id(),
                       released.status());
          return released.status();
        }
        response->set_released_count(*released);
        if (options_.auth.logger != nullptr) {
          LogAdminEndSession(*options_.auth.logger, peer, request.reason(), *id, *released);
        }
        return absl::OkStatus();
      },
      WhenDurable());
}

grpc::ServerUnaryReactor* AdminServiceImpl::ForceClearSemaphore(
    grpc::CallbackServerContext* context, const Raw* in, Raw* out) {
  std::string peer;  // who, for the audit line: set by Authorize
  return ServeUnaryNow<v1::ForceClearSemaphoreRequest, v1::ForceClearSemaphoreResponse>(
      *observer_, "ForceClearSemaphore",
      [&] { return Authorize(context, "force_clear", &peer); }, in, out,
      [&](const v1::ForceClearSemaphoreRequest& request,
          v1::ForceClearSemaphoreResponse* response) -> absl::Status {
        absl::Status status = ValidateGlobalName(request.name());
        if (status.ok()) status = CheckReason(request.reason(), /*required=*/true);
        absl::StatusOr<std::vector<HolderSnapshot>> revoked =
            status.ok() ? core_->ForceClear(request.name(), request.reason()) : status;
        if (!revoked.ok()) {
          AuditFailure("force_clear", peer, request.reason(), request.name(),
                       revoked.status());
          return revoked.status();
        }
        for (const HolderSnapshot& h : *revoked) {
          v1::Holder* holder = response->add_revoked();
          holder->set_session_id(FormatSessionId(h.session_id));
          holder->set_client_name(h.client_name);
          *holder->mutable_grant() = ToGrant(h.grant);
        }
        if (options_.auth.logger != nullptr) {
          LogAdminForceClear(*options_.auth.logger, peer, request.reason(), request.name(),
                             *revoked);
        }
        return absl::OkStatus();
      },
      WhenDurable());
}

grpc::ServerUnaryReactor* AdminServiceImpl::Drain(grpc::CallbackServerContext* context,
                                                  const Raw* in, Raw* out) {
  std::string peer;  // who, for the audit line: set by Authorize
  return ServeUnaryNow<v1::DrainRequest, v1::DrainResponse>(
      *observer_, "Drain",
      [&] { return Authorize(context, "drain", &peer); }, in, out,
      [&](const v1::DrainRequest& request, v1::DrainResponse* response) -> absl::Status {
        if (absl::Status s = CheckReason(request.reason(), /*required=*/false); !s.ok()) {
          AuditFailure("drain", peer, "", "", s);
          return s;
        }
        if (options_.auth.logger != nullptr) {
          LogAdminDrain(*options_.auth.logger, peer, request.reason());
        }
        const Core::DrainResult result =
            options_.drain ? options_.drain() : core_->Drain();
        response->set_woken_waiters(result.woken_waiters);
        response->set_ended_sessions(result.ended_sessions);
        return absl::OkStatus();
      },
      WhenDurable());
}

grpc::ServerUnaryReactor* ServeGetCluster(CallObserver& observer, AdminAuthorizer& auth,
                                          ClusterView& cluster,
                                          grpc::CallbackServerContext* context,
                                          const Raw* in, Raw* out) {
  std::string by;
  return ServeUnary<v1::GetClusterRequest, v1::GetClusterResponse>(
      observer, "GetCluster", [&] { return auth.Authorize(context, "get_cluster", &by); },
      in, out, [&](UnaryCall<v1::GetClusterRequest, v1::GetClusterResponse>* call) {
        cluster.Describe(call->Completion());
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetCluster(grpc::CallbackServerContext* context,
                                                       const Raw* in, Raw* out) {
  return ServeGetCluster(*observer_, auth_, *options_.cluster, context, in, out);
}

}  // namespace semaphored::server
