#ifndef SEMAPHORED_SERVER_SERVICE_ADMIN_SERVICE_H_
#define SEMAPHORED_SERVER_SERVICE_ADMIN_SERVICE_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "grpcpp/grpcpp.h"
#include "semaphored/v1/admin.grpc.pb.h"
#include "server/core/core.h"
#include "server/observability/logger.h"
#include "server/service/service_observer.h"

namespace semaphored::internal {

// Decides who may call the admin service. With a token, a call must carry the
// metadata "authorization: Bearer TOKEN" (the scheme in any case): none gives
// UNAUTHENTICATED, another token (or another scheme) PERMISSION_DENIED; tokens are
// compared in constant time.
// Without a token, only callers on loopback (peer "ipv4:127.x.x.x:port",
// "ipv6:[::1]:port", "ipv6:[::ffff:127.x.x.x]:port" or "unix:...") are served;
// others get PERMISSION_DENIED saying how to configure a token. `peer` is gRPC's
// ServerContext::peer(). Pure function.
absl::Status CheckAdminCredential(absl::string_view configured_token,
                                  absl::string_view authorization_header,
                                  bool has_authorization, absl::string_view peer);

struct AdminServiceOptions {
  // The admin bearer token; empty: loopback callers only (see CheckAdminCredential).
  std::string admin_token;
  // Where audit lines go (server_events.h): one per force-clear, end-session and
  // drain, whether it succeeded or failed, and one per refused credential on any
  // method. Read-only methods that succeed are not logged. nullptr: no audit lines.
  const Logger* logger = nullptr;
  // Told about requests and errors (see ServiceObserver). nullptr: none.
  ServiceObserver* observer = nullptr;
  // Drains the whole server (health, core; the process then exits) and returns the
  // core's drain result. Called on a gRPC thread after the audit line: must not block
  // for long. Unset: only the core is drained.
  std::function<Core::DrainResult()> drain;
};

// The generated service with every method taking raw bytes, parsed by the service
// (wire.h) so that a request that does not parse (a name that is not UTF-8) gets
// INVALID_ARGUMENT naming the rule instead of gRPC's bare UNIMPLEMENTED.
using AdminServiceRawBase = v1::AdminService::WithRawCallbackMethod_ListSemaphores<
    v1::AdminService::WithRawCallbackMethod_ListSessions<
        v1::AdminService::WithRawCallbackMethod_GetSession<
            v1::AdminService::WithRawCallbackMethod_EndSession<
                v1::AdminService::WithRawCallbackMethod_ForceClearSemaphore<
                    v1::AdminService::WithRawCallbackMethod_Drain<
                        v1::AdminService::Service>>>>>>;

// semaphored.v1.AdminService on the gRPC callback API. Every method first checks the
// caller's credential (CheckAdminCredential), then parses, validates, converts and
// delegates to the Core; every answer goes through AnswerStatus. No method blocks:
// the core's administration calls return at once.
//
//   ListSemaphores  prefix (at most 255 bytes) and page_size (0: 100, at most 1000,
//                   negative: INVALID_ARGUMENT); page_token is the opaque
//                   next_page_token of the previous page (a name, web-safe base64).
//                   Every holder and waiter is listed; a page also ends before the
//                   semaphore that would take it past 1 MiB (it holds at least one).
//   ListSessions    page_size as above; page_token is the last session id listed.
//   GetSession      session_id: 16 lowercase hex digits (INVALID_ARGUMENT otherwise);
//                   NOT_FOUND when no such live session.
//   EndSession      as GetSession; reason required (INVALID_ARGUMENT when empty).
//   ForceClearSemaphore  a valid global name; reason required; NOT_FOUND when not
//                   set. Holders are told (SemaphoreRevokedEvent on their stream).
//   Drain           reason optional; see AdminServiceOptions::drain.
//
// Thread-safe; holds no mutable state.
class AdminServiceImpl final : public AdminServiceRawBase {
 public:
  using Raw = grpc::ByteBuffer;

  // `core` (and the logger and observer in `options`) must outlive the service and
  // every call it serves.
  AdminServiceImpl(Core* core, AdminServiceOptions options);

  grpc::ServerUnaryReactor* ListSemaphores(grpc::CallbackServerContext* context,
                                           const Raw* request, Raw* response) override;
  grpc::ServerUnaryReactor* ListSessions(grpc::CallbackServerContext* context,
                                         const Raw* request, Raw* response) override;
  grpc::ServerUnaryReactor* GetSession(grpc::CallbackServerContext* context,
                                       const Raw* request, Raw* response) override;
  grpc::ServerUnaryReactor* EndSession(grpc::CallbackServerContext* context,
                                       const Raw* request, Raw* response) override;
  grpc::ServerUnaryReactor* ForceClearSemaphore(grpc::CallbackServerContext* context,
                                                const Raw* request,
                                                Raw* response) override;
  grpc::ServerUnaryReactor* Drain(grpc::CallbackServerContext* context,
                                  const Raw* request, Raw* response) override;

 private:
  // The caller's credential; a refusal is logged (WARN admin_refused).
  absl::Status Authorize(grpc::CallbackServerContext* context,
                         absl::string_view action) const;
  // Logs a failed administrative action.
  void AuditFailure(absl::string_view action, absl::string_view peer,
                    absl::string_view why, absl::string_view target,
                    const absl::Status& status) const;

  Core* const core_;
  const AdminServiceOptions options_;
  ServiceObserver* const observer_;
};

}  // namespace semaphored::internal

#endif  // SEMAPHORED_SERVER_SERVICE_ADMIN_SERVICE_H_
