#ifndef SEMAPHORED_SERVER_STANDBY_SERVER_H_
#define SEMAPHORED_SERVER_STANDBY_SERVER_H_

// What a server that is not the leader (--etcd_endpoints) serves on its address until
// it becomes the leader: every call, of every service, is answered UNAVAILABLE
// "standby: the leader is at HOST:PORT" (or "standby: no leader yet" / "...: cannot
// reach etcd: ..."), with the leader's client address also in the trailing metadata
// `semaphored-leader`, so that a client can follow it. Nothing else is served.

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/server.h"
#include "server/server_config.h"

namespace semaphored::server {

// The trailing metadata key that names the leader's client address.
inline constexpr char kLeaderMetadataKey[] = "semaphored-leader";

class StandbyServer {
 public:
  // Listens on `address` with `tls` (as the leader would); port 0 picks one.
  static absl::StatusOr<std::unique_ptr<StandbyServer>> Start(const std::string& address,
                                                              const TlsOptions& tls);
  // Stops listening (in-flight calls are answered first).
  ~StandbyServer();
  StandbyServer(const StandbyServer&) = delete;
  StandbyServer& operator=(const StandbyServer&) = delete;

  int port() const { return port_; }
  // What callers are told from now on: the leader's address (empty: none known) and,
  // when etcd could not be asked, why.
  void SetLeader(const std::string& leader, const std::string& problem) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  class Service;
  StandbyServer() = default;
  grpc::Status Answer(grpc::GenericCallbackServerContext* context) ABSL_LOCKS_EXCLUDED(mu_);

  std::unique_ptr<grpc::CallbackGenericService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  absl::Mutex mu_;
  std::string leader_ ABSL_GUARDED_BY(mu_);
  std::string problem_ ABSL_GUARDED_BY(mu_);
};

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_STANDBY_SERVER_H_
