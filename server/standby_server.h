#ifndef SEMAPHORED_SERVER_STANDBY_SERVER_H_
#define SEMAPHORED_SERVER_STANDBY_SERVER_H_

// What a server that is not the leader (--etcd_endpoints) serves on its address until
// it becomes the leader:
//   - AdminService.GetCluster, for real (admin credential as on the leader:
//     AdminAuthorizer), so that an administrator can ask any server;
//   - grpc.health.v1.Health: "" SERVING while the last campaign attempt reached etcd
//     (the standby is ready to take over), NOT_SERVING while it cannot;
//     "semaphored.v1.SemaphoreService" and "semaphored.v1.AdminService" NOT_SERVING
//     (they are served by the leader), so that a load balancer can pick the leader.
//     Check answers carry the trailing metadata semaphored-role: standby, and
//     semaphored-leader / semaphored-etcd-error when known (common/server_role.h);
//   - server reflection, so that grpcurl can call the above;
//   - every other call, of every service, is answered UNAVAILABLE "standby: the leader
//     is at HOST:PORT" (or "standby: no leader yet" / "...; state store unavailable:
//     cannot reach etcd: ..."),
//     with the leader's client address also in the trailing metadata
//     `semaphored-leader`, so that a client can follow it.

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/server_role.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/server.h"
#include "server/cluster_view.h"
#include "server/server_config.h"
#include "server/service/admin_auth.h"

namespace semaphored::server {

using ::semaphored::internal::kLeaderMetadataKey;

class HealthServiceImpl;

struct StandbyOptions {
  // Where to listen, with `tls` (as the leader would); port 0 picks one.
  std::string address;
  TlsOptions tls;
  // Who may call GetCluster (the same token as the leader's admin service).
  AdminAuthOptions admin;
  // What GetCluster describes. Required; must outlive the standby.
  ClusterView* cluster = nullptr;
};

class StandbyServer {
 public:
  // Listens. Fails UNAVAILABLE when the address cannot be listened on.
  static absl::StatusOr<std::unique_ptr<StandbyServer>> Start(StandbyOptions options);
  // Stops listening (in-flight calls are answered first; health watches end).
  ~StandbyServer();
  StandbyServer(const StandbyServer&) = delete;
  StandbyServer& operator=(const StandbyServer&) = delete;

  int port() const { return port_; }
  // What callers are told from now on: the leader's address (empty: none known) and,
  // when etcd could not be asked, why (then health "" is NOT_SERVING).
  void SetLeader(const std::string& leader, const std::string& problem) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  class AdminService;
  class Refusals;
  StandbyServer() = default;
  grpc::Status Answer(grpc::GenericCallbackServerContext* context) ABSL_LOCKS_EXCLUDED(mu_);

  std::unique_ptr<AdminAuthorizer> auth_;
  std::unique_ptr<AdminService> admin_service_;
  std::unique_ptr<HealthServiceImpl> health_;
  std::unique_ptr<grpc::CallbackGenericService> refusals_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  absl::Mutex mu_;
  std::string leader_ ABSL_GUARDED_BY(mu_);
  std::string problem_ ABSL_GUARDED_BY(mu_);
};

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_STANDBY_SERVER_H_
