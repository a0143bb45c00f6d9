#ifndef SEMAPHORED_SERVER_SERVICE_ADMIN_SERVICE_H_
#define SEMAPHORED_SERVER_SERVICE_ADMIN_SERVICE_H_

#include <functional>
#include <utility>
#include <optional>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "grpcpp/grpcpp.h"
#include "semaphored/v1/admin.grpc.pb.h"
#include "common/clock.h"
#include "engine/core.h"
#include "server/observability/logger.h"
#include "server/cluster_view.h"
#include "server/service/admin_auth.h"
#include "server/service/call_observer.h"

namespace semaphored::server {

struct AdminServiceOptions {
  // Who may call (admin token, admin socket, throttle); `auth.logger` also receives
  // the audit lines (server_events.h): one per force-clear, end-session and drain,
  // whether it succeeded or failed. Read-only methods that succeed are not logged.
  AdminAuthOptions auth;
  // Told about requests and errors (see CallObserver). nullptr: none.
  CallObserver* observer = nullptr;
  // Drains the whole server (health, core; the process then exits) and returns the
  // core's drain result. Called on a gRPC thread after the audit line: must not block
  // for long. Unset: only the core is drained.
  std::function<engine::Core::DrainResult()> drain;
  // What GetCluster describes. Required; must outlive the service.
  ClusterView* cluster = nullptr;
};

// Serves GetCluster (request empty; see ClusterView::Describe) to a caller that
// `auth` admits: the one way, for the leader's admin service and a standby's.
grpc::ServerUnaryReactor* ServeGetCluster(CallObserver& observer, AdminAuthorizer& auth,
                                          ClusterView& cluster,
                                          grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* in, grpc::ByteBuffer* out);

// The generated service with every method taking raw bytes, parsed by the service
// (wire.h) so that a request that does not parse (a name that is not UTF-8) gets
// INVALID_ARGUMENT naming the rule instead of gRPC's bare UNIMPLEMENTED.
using AdminServiceRawBase = v1::AdminService::WithRawCallbackMethod_ListSemaphores<
    v1::AdminService::WithRawCallbackMethod_ListSessions<
        v1::AdminService::WithRawCallbackMethod_GetSession<
            v1::AdminService::WithRawCallbackMethod_EndSession<
                v1::AdminService::WithRawCallbackMethod_ForceClearSemaphore<
                    v1::AdminService::WithRawCallbackMethod_Drain<
                        v1::AdminService::WithRawCallbackMethod_GetCluster<
                            v1::AdminService::Service>>>>>>>;

// semaphored.v1.AdminService on the gRPC callback API. Every method first checks the
// caller (AdminAuthorizer), then parses, validates, converts and delegates to the
// Core (GetCluster: to the ClusterView); every answer goes through AnswerStatus. No
// method blocks: the core's administration calls return at once, and GetCluster is
// answered from the view's thread.
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
//   GetCluster      no fields; see ClusterView.
//
// Thread-safe; its only mutable state is the authorizer's throttle.
class AdminServiceImpl final : public AdminServiceRawBase {
 public:
  using Raw = grpc::ByteBuffer;

  // `core` (and the logger and observer in `options`) must outlive the service and
  // every call it serves.
  AdminServiceImpl(engine::Core* core, AdminServiceOptions options);

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
  grpc::ServerUnaryReactor* GetCluster(grpc::CallbackServerContext* context,
                                       const Raw* request, Raw* response) override;

 private:
  absl::Status Authorize(grpc::CallbackServerContext* context, absl::string_view action,
                         std::string* by) {
    return auth_.Authorize(context, action, by);
  }
  // What gives an answer: once every effect recorded so far is durable (at once
  // without a store), so that no listing or result shows state a crash could undo.
  auto WhenDurable() {
    return [core = core_](absl::AnyInvocable<void()> answer) {
      core->WhenDurable(std::move(answer));
    };
  }
  // Logs a failed administrative action.
  void AuditFailure(absl::string_view action, absl::string_view peer,
                    absl::string_view why, absl::string_view target,
                    const absl::Status& status) const;

  engine::Core* const core_;
  const AdminServiceOptions options_;
  CallObserver* const observer_;
  AdminAuthorizer auth_;
};

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_SERVICE_ADMIN_SERVICE_H_
