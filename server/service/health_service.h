#ifndef SEMAPHORED_SERVER_SERVICE_HEALTH_SERVICE_H_
#define SEMAPHORED_SERVER_SERVICE_HEALTH_SERVICE_H_

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace semaphored::server {

// grpc.health.v1.Health, implemented on the code generated from grpc-proto's
// health.proto (not gRPC's built-in health service), so that server reflection can
// describe it.
//
// Known services: "" (the whole server) and every name passed to the constructor.
// Check answers their status, NOT_FOUND for any other name, and adds the trailing
// metadata set with SetCheckMetadata (semaphored's role: see server/health_role.h). Watch sends the current
// status at once (SERVICE_UNKNOWN for an unknown name, keeping the call open) and then
// every change; it ends only when the client cancels or Shutdown() is called.
//
// Thread-safe. Must outlive the gRPC server it is registered with.
class HealthServiceImpl final : public grpc::health::v1::Health::CallbackService {
 public:
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;

  // Every known service starts SERVING.
  explicit HealthServiceImpl(std::initializer_list<std::string> services);
  ~HealthServiceImpl() override;

  // Sets the status of every known service; watchers are told.
  void SetServing(bool serving) ABSL_LOCKS_EXCLUDED(mu_);
  // Sets the status of one known service (ignored for an unknown one); its watchers
  // are told.
  void SetServing(const std::string& service, bool serving) ABSL_LOCKS_EXCLUDED(mu_);
  // The trailing metadata of every Check answer from now on (keys lowercase, values
  // printable ASCII). Initially none.
  void SetCheckMetadata(std::vector<std::pair<std::string, std::string>> metadata)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Ends every Watch call with UNAVAILABLE (after the status changes already queued),
  // and makes later Watch calls end at once, so that gRPC's shutdown does not wait for
  // them. Idempotent.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

  grpc::ServerUnaryReactor* Check(
      grpc::CallbackServerContext* context,
      const grpc::health::v1::HealthCheckRequest* request,
      grpc::health::v1::HealthCheckResponse* response) override ABSL_LOCKS_EXCLUDED(mu_);
  grpc::ServerWriteReactor<grpc::health::v1::HealthCheckResponse>* Watch(
      grpc::CallbackServerContext* context,
      const grpc::health::v1::HealthCheckRequest* request) override
      ABSL_LOCKS_EXCLUDED(mu_);

  class Watcher;

 private:
  friend class Watcher;
  ServingStatus StatusLocked(const std::string& service) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveWatcher(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);
  // Sets `service`'s status (every known one when nullptr) and tells watchers.
  void Set(const std::string* service, bool serving) ABSL_LOCKS_EXCLUDED(mu_);

  mutable absl::Mutex mu_;
  // State below is protected by mu_.
  absl::flat_hash_map<std::string, ServingStatus> statuses_ ABSL_GUARDED_BY(mu_);
  uint64_t last_watcher_id_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<uint64_t, std::weak_ptr<Watcher>> watchers_ ABSL_GUARDED_BY(mu_);
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::pair<std::string, std::string>> check_metadata_ ABSL_GUARDED_BY(mu_);
};

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_SERVICE_HEALTH_SERVICE_H_
