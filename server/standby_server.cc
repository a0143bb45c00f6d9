// StandbyServer: UNAVAILABLE with the leader's address, for every call.

#include "server/standby_server.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/support/server_callback.h"

namespace semaphored::server {

class StandbyServer::Service : public grpc::CallbackGenericService {
 public:
  explicit Service(StandbyServer* owner) : owner_(owner) {}

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

absl::StatusOr<std::unique_ptr<StandbyServer>> StandbyServer::Start(const std::string& address,
                                                                    const TlsOptions& tls) {
  std::unique_ptr<StandbyServer> standby(new StandbyServer());
  standby->service_ = std::make_unique<Service>(standby.get());
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, GrpcServerCredentials(tls), &standby->port_);
  builder.RegisterCallbackGenericService(standby->service_.get());
  standby->server_ = builder.BuildAndStart();
  if (standby->server_ == nullptr || standby->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address,
                                               " (in use, or not an address of this host)"));
  }
  return standby;
}

StandbyServer::~StandbyServer() {
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    server_->Wait();
  }
}

void StandbyServer::SetLeader(const std::string& leader, const std::string& problem) {
  absl::MutexLock lock(&mu_);
  leader_ = leader;
  problem_ = problem;
}

grpc::Status StandbyServer::Answer(grpc::GenericCallbackServerContext* context) {
  absl::MutexLock lock(&mu_);
  if (!leader_.empty()) context->AddTrailingMetadata(kLeaderMetadataKey, leader_);
  std::string message =
      leader_.empty() ? "standby: no leader yet" : absl::StrCat("standby: the leader is at ", leader_);
  if (!problem_.empty()) absl::StrAppend(&message, "; cannot reach etcd: ", problem_);
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, message);
}

}  // namespace semaphored::server
