#ifndef SEMAPHORED_SERVER_SERVICE_ADMIN_SERVICE_H_
#define SEMAPHORED_SERVER_SERVICE_ADMIN_SERVICE_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "grpcpp/grpcpp.h"
#include "semaphored/v1/admin.grpc.pb.h"
#include "server/core/core.h"

namespace semaphored::internal {

// Decides who may call the admin service. With a token, a call must carry the
// metadata "authorization: Bearer TOKEN": none gives UNAUTHENTICATED, another token
// PERMISSION_DENIED (compared in constant time). Without a token, only callers on
// loopback (127.0.0.0/8, ::1, unix sockets) are served; others get PERMISSION_DENIED
// saying how to configure a token.
absl::Status CheckAdminCredential(absl::string_view configured_token,
                                  absl::string_view authorization_header,
                                  bool has_authorization, absl::string_view peer);

// One audited administrator action, for the log.
struct AdminAction {
  std::string action;  // force_clear, end_session, drain
  std::string peer;    // the caller's address
  std::string target;  // semaphore name or session id; empty for drain
  std::string reason;
  std::string result;  // "ok" or the error
};

struct AdminServiceOptions {
  std::string admin_token;  // empty: loopback callers only
  // Told about every action (allowed or refused). Must not block.
  std::function<void(const AdminAction&)> audit;
  // Starts the drain of the whole server (health, core, then exit) and returns the
  // core's drain result. Called on a gRPC thread: must not block for long.
  std::function<Core::DrainResult()> drain;
};

// semaphored.v1.AdminService on the gRPC callback API: converts and delegates to the
// Core. Thread-safe.
class AdminServiceImpl final : public v1::AdminService::CallbackService {
 public:
  // `core` must outlive the service.
  AdminServiceImpl(Core* core, AdminServiceOptions options);

  grpc::ServerUnaryReactor* ListSemaphores(grpc::CallbackServerContext* context,
                                           const v1::ListSemaphoresRequest* request,
                                           v1::ListSemaphoresResponse* response) override;
  grpc::ServerUnaryReactor* ListSessions(grpc::CallbackServerContext* context,
                                         const v1::ListSessionsRequest* request,
                                         v1::ListSessionsResponse* response) override;
  grpc::ServerUnaryReactor* GetSession(grpc::CallbackServerContext* context,
                                       const v1::GetSessionRequest* request,
                                       v1::GetSessionResponse* response) override;
  grpc::ServerUnaryReactor* EndSession(grpc::CallbackServerContext* context,
                                       const v1::EndSessionRequest* request,
                                       v1::EndSessionResponse* response) override;
  grpc::ServerUnaryReactor* ForceClearSemaphore(
      grpc::CallbackServerContext* context, const v1::ForceClearSemaphoreRequest* request,
      v1::ForceClearSemaphoreResponse* response) override;
  grpc::ServerUnaryReactor* Drain(grpc::CallbackServerContext* context,
                                  const v1::DrainRequest* request,
                                  v1::DrainResponse* response) override;

 private:
  absl::Status Authorize(grpc::CallbackServerContext* context) const;
  void Audit(grpc::CallbackServerContext* context, std::string action, std::string target,
             std::string reason, const absl::Status& result) const;

  Core* const core_;
  const AdminServiceOptions options_;
};

}  // namespace semaphored::internal

#endif  // SEMAPHORED_SERVER_SERVICE_ADMIN_SERVICE_H_
