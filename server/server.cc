#include "server/server.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "server/core/clock.h"
#include "server/core/fencing.h"
#include "server/core/ticker.h"
#include "server/service/health_service.h"
#include "server/service/semaphore_service.h"

namespace semaphored::internal {
namespace {

// How long Shutdown lets calls finish by themselves after the drain; then gRPC
// cancels them.
constexpr auto kShutdownGrace = std::chrono::seconds(3);

// The host part of HOST:PORT ("[::1]" stays bracketed); empty when there is no port.
std::string HostOf(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) return "";
  // An unbracketed IPv6 address such as "::1" has no port.
  if (address.front() != '[' && address.find(':') != colon) return "";
  return address.substr(0, colon);
}

// Where a client on this machine connects to reach a listener on `host`.
std::string ConnectHost(const std::string& host) {
  if (host == "0.0.0.0") return "127.0.0.1";
  if (host == "[::]") return "[::1]";
  return host;
}

absl::StatusOr<std::unique_ptr<TokenSource>> MakeTokenSource(const std::string& path) {
  if (path.empty()) {
    return std::make_unique<CounterTokenSource>(
        static_cast<uint64_t>(absl::ToUnixMicros(absl::Now())));
  }
  absl::StatusOr<std::unique_ptr<DurableTokenSource>> durable =
      DurableTokenSource::Open(path, absl::Now());
  if (!durable.ok()) return durable.status();
  return std::unique_ptr<TokenSource>(std::move(*durable));
}

}  // namespace

Server::Server() = default;

absl::StatusOr<std::unique_ptr<Server>> Server::Start(ServerOptions options) {
  const std::string host = HostOf(options.listen_address);
  if (host.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address \"", options.listen_address,
                     "\" is not HOST:PORT (for example 127.0.0.1:50051 or [::1]:0)"));
  }
  if (options.max_message_bytes < 1024) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_message_bytes ", options.max_message_bytes, " is below the minimum 1024"));
  }
  std::unique_ptr<Server> server(new Server);
  absl::StatusOr<std::unique_ptr<TokenSource>> tokens =
      MakeTokenSource(options.state_file);
  if (!tokens.ok()) return tokens.status();
  server->tokens_ = std::move(*tokens);
  server->core_ =
      std::make_unique<Core>(RealClock::Get(), server->tokens_.get(), options.core);
  server->ticker_ = std::make_unique<Ticker>(server->core_.get());
  server->semaphore_service_ =
      std::make_unique<SemaphoreServiceImpl>(server->core_.get(), RealClock::Get());
  server->health_service_ = std::make_unique<HealthServiceImpl>(
      std::initializer_list<std::string>{v1::SemaphoreService::service_full_name()});

  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen_address, grpc::InsecureServerCredentials(),
                           &server->port_);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.RegisterService(server->semaphore_service_.get());
  builder.RegisterService(server->health_service_.get());
  // semaphored.v1.AdminService (issue 3) is registered here too, next to the others.
  server->grpc_server_ = builder.BuildAndStart();
  if (server->grpc_server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen_address,
                     ": the address is in use or not local to this machine"));
  }
  server->address_ = absl::StrCat(ConnectHost(host), ":", server->port_);
  return server;
}

Server::~Server() {
  // A server whose Start failed half-way has no gRPC server to stop.
  if (grpc_server_ != nullptr) Shutdown();
}

void Server::Drain() {
  {
    absl::MutexLock lock(&mu_);
    if (drained_) return;
    drained_ = true;
  }
  // Health first, so that load balancers stop sending new work.
  health_service_->SetServing(false);
  core_->Drain();
}

void Server::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (shutting_down_) {
      mu_.Await(absl::Condition(&shut_down_));
      return;
    }
    shutting_down_ = true;
  }
  Drain();
  // Watch calls never end by themselves; the drain ended every session stream.
  health_service_->Shutdown();
  grpc_server_->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
  grpc_server_->Wait();
  ticker_.reset();
  absl::MutexLock lock(&mu_);
  shut_down_ = true;
}

void Server::Wait() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&shut_down_));
}

}  // namespace semaphored::internal
