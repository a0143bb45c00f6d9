#include "server/service/admin_service.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "server/service/convert.h"

namespace semaphored::internal {
namespace {

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
constexpr size_t kMaxReasonBytes = 1024;

grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context,
                                 const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

bool IsLoopbackPeer(absl::string_view peer) {
  return absl::StartsWith(peer, "ipv4:127.") || absl::StartsWith(peer, "ipv6:[::1]") ||
         absl::StartsWith(peer, "ipv6:[::ffff:127.") || absl::StartsWith(peer, "unix:");
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

// page_size: 0 means the default; above the maximum is clamped; negative is an error.
absl::StatusOr<int> PageSize(int32_t requested) {
  if (requested < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size must not be negative (got ", requested, ")"));
  }
  if (requested == 0) return kDefaultPageSize;
  return std::min(requested, kMaxPageSize);
}

absl::Status BadPageToken() {
  return absl::InvalidArgumentError(
      "page_token was not issued by this server; pass next_page_token from the previous "
      "page, or leave it empty for the first page");
}

absl::Status CheckReason(absl::string_view reason, bool required) {
  if (reason.empty() && required) {
    return absl::InvalidArgumentError("reason is required: say why, it is logged and sent "
                                      "to the holders");
  }
  return ValidateText("reason", reason, kMaxReasonBytes);
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

}  // namespace

absl::Status CheckAdminCredential(absl::string_view configured_token,
                                  absl::string_view authorization_header,
                                  bool has_authorization, absl::string_view peer) {
  if (configured_token.empty()) {
    if (IsLoopbackPeer(peer)) return absl::OkStatus();
    return absl::PermissionDeniedError(absl::StrCat(
        "this server has no admin token, so its admin service only answers callers on "
        "loopback (you are ",
        peer, "); start the server with --admin_token or SEMAPHORED_ADMIN_TOKEN"));
  }
  if (!has_authorization) {
    return absl::UnauthenticatedError(
        "admin methods need the metadata \"authorization: Bearer TOKEN\" with the "
        "server's admin token");
  }
  absl::string_view token = authorization_header;
  if (!absl::ConsumePrefix(&token, "Bearer ") || !ConstantTimeEquals(token, configured_token)) {
    return absl::PermissionDeniedError("the admin token is wrong");
  }
  return absl::OkStatus();
}

AdminServiceImpl::AdminServiceImpl(Core* core, AdminServiceOptions options)
    : core_(core), options_(std::move(options)) {}

absl::Status AdminServiceImpl::Authorize(grpc::CallbackServerContext* context) const {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  absl::string_view header;
  if (it != metadata.end()) header = absl::string_view(it->second.data(), it->second.size());
  return CheckAdminCredential(options_.admin_token, header, it != metadata.end(),
                              context->peer());
}

void AdminServiceImpl::Audit(grpc::CallbackServerContext* context, std::string action,
                             std::string target, std::string reason,
                             const absl::Status& result) const {
  if (!options_.audit) return;
  options_.audit(AdminAction{std::move(action), context->peer(), std::move(target),
                             std::move(reason),
                             result.ok() ? "ok" : std::string(result.ToString())});
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListSemaphores(
    grpc::CallbackServerContext* context, const v1::ListSemaphoresRequest* request,
    v1::ListSemaphoresResponse* response) {
  if (absl::Status s = Authorize(context); !s.ok()) return Finish(context, s);
  absl::StatusOr<int> size = PageSize(request->page_size());
  if (!size.ok()) return Finish(context, size.status());
  if (request->prefix().size() > kMaxNameBytes) {
    return Finish(context, absl::InvalidArgumentError(absl::StrCat(
                               "prefix is ", request->prefix().size(),
                               " bytes long; names are at most ", kMaxNameBytes)));
  }
  std::string after;
  if (!request->page_token().empty() &&
      !absl::WebSafeBase64Unescape(request->page_token(), &after)) {
    return Finish(context, BadPageToken());
  }
  std::vector<SemaphoreSnapshot> page =
      core_->ListSemaphores(request->prefix(), after, *size + 1);
  const bool more = static_cast<int>(page.size()) > *size;
  if (more) page.pop_back();
  for (const SemaphoreSnapshot& snap : page) {
    v1::SemaphoreDetail* detail = response->add_semaphores();
    *detail->mutable_state() = ToSemaphoreState(snap);
    for (const WaiterInfo& w : snap.waiters) {
      v1::Waiter* waiter = detail->add_waiters();
      waiter->set_session_id(FormatSessionId(w.session_id));
      waiter->set_client_name(w.client_name);
      waiter->set_permits(w.permits);
      *waiter->mutable_enqueue_time() = ToProtoTimestamp(w.enqueue_time);
    }
  }
  if (more) response->set_next_page_token(absl::WebSafeBase64Escape(page.back().name));
  return Finish(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListSessions(
    grpc::CallbackServerContext* context, const v1::ListSessionsRequest* request,
    v1::ListSessionsResponse* response) {
  if (absl::Status s = Authorize(context); !s.ok()) return Finish(context, s);
  absl::StatusOr<int> size = PageSize(request->page_size());
  if (!size.ok()) return Finish(context, size.status());
  SessionId after = 0;
  if (!request->page_token().empty()) {
    std::optional<SessionId> parsed = ParseSessionId(request->page_token());
    if (!parsed) return Finish(context, BadPageToken());
    after = *parsed;
  }
  std::vector<SessionSnapshot> page = core_->ListSessions(after, *size + 1);
  const bool more = static_cast<int>(page.size()) > *size;
  if (more) page.pop_back();
  for (const SessionSnapshot& s : page) *response->add_sessions() = ToSessionInfo(s);
  if (more) response->set_next_page_token(FormatSessionId(page.back().id));
  return Finish(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetSession(grpc::CallbackServerContext* context,
                                                       const v1::GetSessionRequest* request,
                                                       v1::GetSessionResponse* response) {
  if (absl::Status s = Authorize(context); !s.ok()) return Finish(context, s);
  std::optional<SessionId> id = ParseSessionId(request->session_id());
  if (!id) {
    return Finish(context, absl::InvalidArgumentError(
                               "session_id must be 16 lowercase hex digits, as listed by "
                               "ListSessions or shown by TestSemaphore"));
  }
  absl::StatusOr<SessionSnapshot> snap = core_->GetSession(*id);
  if (!snap.ok()) return Finish(context, snap.status());
  *response->mutable_session() = ToSessionInfo(*snap);
  for (const std::string& name : snap->held_names) response->add_held_names(name);
  return Finish(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* AdminServiceImpl::EndSession(grpc::CallbackServerContext* context,
                                                       const v1::EndSessionRequest* request,
                                                       v1::EndSessionResponse* response) {
  absl::Status status = Authorize(context);
  std::optional<SessionId> id = ParseSessionId(request->session_id());
  if (status.ok() && !id) {
    status = absl::InvalidArgumentError("session_id must be 16 lowercase hex digits");
  }
  if (status.ok()) status = CheckReason(request->reason(), /*required=*/true);
  if (status.ok()) {
    absl::StatusOr<int32_t> released = core_->EndSession(*id, request->reason());
    status = released.status();
    if (released.ok()) response->set_released_count(*released);
  }
  Audit(context, "end_session", request->session_id(), request->reason(), status);
  return Finish(context, status);
}

grpc::ServerUnaryReactor* AdminServiceImpl::ForceClearSemaphore(
    grpc::CallbackServerContext* context, const v1::ForceClearSemaphoreRequest* request,
    v1::ForceClearSemaphoreResponse* response) {
  absl::Status status = Authorize(context);
  if (status.ok()) status = ValidateGlobalName(request->name());
  if (status.ok()) status = CheckReason(request->reason(), /*required=*/true);
  if (status.ok()) {
    absl::StatusOr<std::vector<HolderInfo>> revoked =
        core_->ForceClear(request->name(), request->reason());
    status = revoked.status();
    if (revoked.ok()) {
      for (const HolderInfo& h : *revoked) {
        v1::Holder* holder = response->add_revoked();
        holder->set_session_id(FormatSessionId(h.session_id));
        holder->set_client_name(h.client_name);
        *holder->mutable_grant() = ToGrant(h.grant);
      }
    }
  }
  Audit(context, "force_clear", request->name(), request->reason(), status);
  return Finish(context, status);
}

grpc::ServerUnaryReactor* AdminServiceImpl::Drain(grpc::CallbackServerContext* context,
                                                  const v1::DrainRequest* request,
                                                  v1::DrainResponse* response) {
  absl::Status status = Authorize(context);
  if (status.ok()) status = CheckReason(request->reason(), /*required=*/false);
  if (status.ok()) {
    Core::DrainResult result = options_.drain ? options_.drain() : core_->Drain();
    response->set_woken_waiters(result.woken_waiters);
    response->set_ended_sessions(result.ended_sessions);
  }
  Audit(context, "drain", "", request->reason(), status);
  return Finish(context, status);
}

}  // namespace semaphored::internal
