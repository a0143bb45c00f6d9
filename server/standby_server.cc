// StandbyServer: GetCluster and health for real; UNAVAILABLE with the leader's
// address for every other call.

#include "server/standby_server.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/support/server_callback.h"
#include "semaphored/v1/admin.grpc.pb.h"
#include "semaphored/v1/semaphore.grpc.pb.h"
#include "server/service/admin_service.h"
#include "server/service/health_service.h"

namespace semaphored::server {
namespace {

using ::semaphored::internal::kEtcdErrorMetadataKey;
using ::semaphored::internal::kRoleMetadataKey;
using ::semaphored::internal::kRoleStandby;

// Every admin method but GetCluster is left to the generic service (the refusal).
using StandbyAdminBase = v1::AdminService::WithGenericMethod_ListSemaphores<
    v1::AdminService::WithGenericMethod_ListSessions<
        v1::AdminService::WithGenericMethod_GetSession<
            v1::AdminService::WithGenericMethod_EndSession<
                v1::AdminService::WithGenericMethod_ForceClearSemaphore<
                    v1::AdminService::WithGenericMethod_Drain<
                        v1::AdminService::WithRawCallbackMethod_GetCluster<
                            v1::AdminService::Service>>>>>>>;

// A metadata value: printable ASCII only (gRPC refuses others), at most 1 KiB.
std::string MetadataValue(const std::string& text) {
  std::string value = text.substr(0, 1024);
  for (char& c : value) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return value;
}

}  // namespace

class StandbyServer::AdminService final : public StandbyAdminBase {
 public:
  AdminService(AdminAuthorizer* auth, ClusterView* cluster) : auth_(auth), cluster_(cluster) {}

  grpc::ServerUnaryReactor* GetCluster(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* in,
                                       grpc::ByteBuffer* out) override {
    return ServeGetCluster(*CallObserver::Null(), *auth_, *cluster_, context, in, out);
  }

 private:
  AdminAuthorizer* const auth_;
  ClusterView* const cluster_;
};

class StandbyServer::Refusals final : public grpc::CallbackGenericService {
 public:
  explicit Refusals(StandbyServer* owner) : owner_(owner) {}

  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override {
    class Refusal : public grpc::ServerGenericBidiReactor {
     public:
      explicit Refusal(grpc::Status status) { Finish(std::move(status)); }
      void OnDone() override { delete this; }
    };
    return new Refusal(owner_->Answer(context));
  }

 private:
  StandbyServer* const owner_;
};

absl::StatusOr<std::unique_ptr<StandbyServer>> StandbyServer::Start(StandbyOptions options) {
  std::unique_ptr<StandbyServer> standby(new StandbyServer());
  standby->auth_ = std::make_unique<AdminAuthorizer>(options.admin);
  standby->admin_service_ =
      std::make_unique<AdminService>(standby->auth_.get(), options.cluster);
  standby->health_ = std::make_unique<HealthServiceImpl>(std::initializer_list<std::string>{
      v1::SemaphoreService::service_full_name(), v1::AdminService::service_full_name()});
  standby->health_->SetServing(v1::SemaphoreService::service_full_name(), false);
  standby->health_->SetServing(v1::AdminService::service_full_name(), false);
  standby->SetLeader("", "");
  standby->refusals_ = std::make_unique<Refusals>(standby.get());
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.address, GrpcServerCredentials(options.tls), &standby->port_);
  builder.RegisterService(standby->admin_service_.get());
  builder.RegisterService(standby->health_.get());
  builder.RegisterCallbackGenericService(standby->refusals_.get());
  standby->server_ = builder.BuildAndStart();
  if (standby->server_ == nullptr || standby->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.address,
                                               " (in use, or not an address of this host)"));
  }
  return standby;
}

StandbyServer::~StandbyServer() {
  if (server_ != nullptr) {
    // Watch calls never end by themselves.
    health_->Shutdown();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    server_->Wait();
  }
}

void StandbyServer::SetLeader(const std::string& leader, const std::string& problem) {
  {
    absl::MutexLock lock(&mu_);
    leader_ = leader;
    problem_ = problem;
  }
  std::vector<std::pair<std::string, std::string>> metadata = {
      {kRoleMetadataKey, kRoleStandby}};
  if (!leader.empty()) metadata.emplace_back(kLeaderMetadataKey, MetadataValue(leader));
  if (!problem.empty()) metadata.emplace_back(kEtcdErrorMetadataKey, MetadataValue(problem));
  health_->SetCheckMetadata(std::move(metadata));
  health_->SetServing("", problem.empty());
}

grpc::Status StandbyServer::Answer(grpc::GenericCallbackServerContext* context) {
  absl::MutexLock lock(&mu_);
  if (!leader_.empty()) context->AddTrailingMetadata(kLeaderMetadataKey, leader_);
  std::string message =
      leader_.empty() ? "standby: no leader yet" : absl::StrCat("standby: the leader is at ", leader_);
  if (!problem_.empty()) {
    absl::StrAppend(&message, "; state store unavailable: cannot reach etcd: ", problem_);
  }
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, message);
}

}  // namespace semaphored::server
