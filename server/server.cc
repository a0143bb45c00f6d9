// The Server: wires the engine, the gRPC services, the admin socket and metrics.

#include "server/server.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/security/server_credentials.h"
#include "common/local_admin.h"
#include "common/server_role.h"
#include "server/cluster_view.h"
#include "server/admin_socket.h"
#include "common/clock.h"
#include "engine/committer.h"
#include "engine/counter_token_source.h"
#include "engine/durable_token_source.h"
#include "engine/ticker.h"
#include "server/listener_check.h"
#include "server/observability/metrics.h"
#include "server/observability/metrics_http_server.h"
#include "server/observability/server_events.h"
#include "server/server_telemetry.h"
#include "server/service/admin_service.h"
#include "server/service/health_service.h"
#include "server/service/semaphore_service.h"
#include "store/open_store.h"

namespace semaphored::server {

using ::semaphored::internal::DefaultAdminSocketPath;
using ::semaphored::internal::RealClock;

using engine::Core;
using engine::CounterTokenSource;
using engine::DurableTokenSource;
using engine::Ticker;
using engine::TokenSource;

namespace {

// How long Shutdown lets calls finish by themselves after the drain; then gRPC
// cancels them.
constexpr auto kShutdownGrace = std::chrono::seconds(3);

// How long the listener check waits for its own listener to answer a probe.
constexpr absl::Duration kListenerProbeTimeout = absl::Seconds(2);

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

// Tokens for a core whose store loaded `high_water`: with a durable store, a counter
// from the larger of the stored high-water and the wall clock in microseconds (so
// that tokens also stay above those of a server that ran without a data dir); else
// the state file's.
absl::StatusOr<std::unique_ptr<TokenSource>> MakeTokenSource(const engine::Store& store,
                                                             uint64_t high_water,
                                                             const std::string& path) {
  if (store.durable()) {
    return std::make_unique<CounterTokenSource>(std::max(
        high_water, static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()))));
  }
  if (path.empty()) {
    return std::make_unique<CounterTokenSource>(
        static_cast<uint64_t>(absl::ToUnixMicros(absl::Now())));
  }
  absl::StatusOr<std::unique_ptr<DurableTokenSource>> durable =
      DurableTokenSource::Open(path, absl::Now());
  if (!durable.ok()) return durable.status();
  return std::unique_ptr<TokenSource>(std::move(*durable));
}

// A bearer token sent over plaintext can be read by anyone on the path and replayed.
void WarnIfTokenInClear(const Logger& logger, const ServerOptions& options) {
  std::optional<std::string> warning = PlaintextTokenWarning(
      HostOf(options.listen_address), options.tls.enabled(), !options.admin_token.empty());
  if (!warning.has_value()) return;
  logger.Log(LogLevel::kWarn, "admin_token_in_clear",
             {{"listen", options.listen_address}, {"error", *warning}});
}

absl::Status CheckOptions(const ServerOptions& options) {
  if (HostOf(options.listen_address).empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address \"", options.listen_address,
                     "\" is not HOST:PORT (for example 127.0.0.1:50051 or [::1]:0)"));
  }
  if (options.max_message_bytes < 1024) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_message_bytes ", options.max_message_bytes, " is below the minimum 1024"));
  }
  if (absl::Status s = ValidateAdminToken(options.admin_token, "the options"); !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateTransportLimits(options.transport); !s.ok()) return s;
  if (options.listener_check_interval < absl::Milliseconds(10) ||
      options.listener_check_failures < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--listener_check_interval must be at least 10ms (inf: no check) and "
        "--listener_check_failures at least 1; got ",
        absl::FormatDuration(options.listener_check_interval), " and ",
        options.listener_check_failures));
  }
  return ValidateTls(options.tls);
}

}  // namespace

Server::Server() = default;

absl::StatusOr<std::unique_ptr<Server>> Server::Start(ServerOptions options) {
  if (absl::Status s = CheckOptions(options); !s.ok()) return s;
  std::unique_ptr<Server> server(new Server);
  LoggerOptions log;
  log.format = options.log_format;
  log.sink = options.log_sink;
  server->logger_ = std::make_unique<Logger>(log);
  server->metrics_ = std::make_unique<Metrics>();
  server->observer_ =
      std::make_unique<ServerTelemetry>(server->metrics_.get(), server->logger_.get());

  if (absl::Status s = server->StartEngine(options); !s.ok()) return s;

  if (!options.metrics_address.empty()) {
    Metrics* metrics = server->metrics_.get();
    server->metrics_http_ =
        std::make_unique<MetricsHttpServer>([metrics] { return metrics->Render(); });
    if (absl::Status s = server->metrics_http_->Start(options.metrics_address); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("--metrics_address: ", s.message()));
    }
    server->metrics_port_ = server->metrics_http_->port();
  }
  if (absl::Status s = server->StartGrpc(options); !s.ok()) return s;
  server->StartListenerCheck(options);
  return server;
}

absl::Status Server::StartEngine(const ServerOptions& options) {
  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<engine::Store>> store =
      options.open_store ? options.open_store() : store::OpenStore(options.data_dir);
  if (!store.ok()) return store.status();
  store_ = std::move(*store);
  absl::StatusOr<engine::StoredState> state = store_->Load();
  if (!state.ok()) return state.status();
  absl::StatusOr<std::unique_ptr<TokenSource>> tokens =
      MakeTokenSource(*store_, state->token_high_water, options.state_file);
  if (!tokens.ok()) return tokens.status();
  tokens_ = std::move(*tokens);
  engine::CoreOptions core_options = options.core;
  core_options.store = store_.get();
  core_ = std::make_unique<Core>(RealClock::Get(), tokens_.get(), std::move(core_options));
  core_->SetListener(observer_.get());
  if (absl::Status s = core_->Restore(*state); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(store_->Describe(), ": ", s.message()));
  }
  loaded_ = engine::Summarize(*state);
  loaded_.took = absl::Now() - start;
  metrics_->SetLoaded(loaded_.took);
  Core* core = core_.get();
  metrics_->SetCountsSource([core] { return core->Counts(); });
  if (store_->durable()) {
    core_->SetCommitFailedHook([this](const absl::Status& error) {
      LogStoreFailed(*logger_, store_->Describe(), error);
      RequestShutdown("store_failed");
    });
    committer_ = std::make_unique<engine::Committer>(core);
  }
  ticker_ = std::make_unique<Ticker>(core);
  return absl::OkStatus();
}

absl::Status Server::StartGrpc(const ServerOptions& options) {
  semaphore_service_ = std::make_unique<SemaphoreServiceImpl>(
      core_.get(), observer_.get(), options.service_limits);
  AdminServiceOptions admin;
  admin.auth.admin_token = options.admin_token;
  if (!options.admin_socket.empty()) {
    admin_socket_ = std::make_unique<AdminSocket>(logger_.get());
    admin.auth.admin_socket_caller =
        [socket = admin_socket_.get()](absl::string_view peer) -> std::optional<std::string> {
      std::optional<PeerCredentials> cred = socket->CallerOf(peer);
      if (!cred.has_value()) return std::nullopt;
      return absl::StrCat("uid ", cred->uid, ", pid ", cred->pid);
    };
  }
  admin.auth.throttle = options.admin_throttle;
  admin.auth.logger = logger_.get();
  admin.observer = observer_.get();
  admin.drain = [this] {
    Core::DrainResult result = Drain("admin");
    RequestShutdown("admin");
    return result;
  };
  // A single server shows the listen address until the bound one is known, below.
  cluster_ = options.cluster != nullptr ? options.cluster
                                        : std::make_shared<ClusterView>(options.listen_address);
  admin.cluster = cluster_.get();
  admin_service_ = std::make_unique<AdminServiceImpl>(core_.get(), std::move(admin));
  health_service_ = std::make_unique<HealthServiceImpl>(std::initializer_list<std::string>{
      v1::SemaphoreService::service_full_name(), v1::AdminService::service_full_name()});
  health_service_->SetCheckMetadata(
      {{internal::kRoleMetadataKey,
        options.cluster != nullptr ? internal::kRoleLeader : internal::kRoleSingle}});

  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen_address, GrpcServerCredentials(options.tls),
                           &port_);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  ApplyTransportLimits(options.transport, builder);
  builder.RegisterService(semaphore_service_.get());
  builder.RegisterService(admin_service_.get());
  builder.RegisterService(health_service_.get());
  grpc_server_ = builder.BuildAndStart();
  if (grpc_server_ == nullptr || port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", options.listen_address,
        options.tls.enabled()
            ? ": the address is in use or not local to this machine, or the TLS "
              "certificate and key are unusable (see gRPC's message above)"
            : ": the address is in use or not local to this machine"));
  }
  address_ = absl::StrCat(ConnectHost(HostOf(options.listen_address)), ":", port_);
  if (options.cluster == nullptr) cluster_->SetAddress(address_);
  if (absl::Status s = StartAdminSocket(options); !s.ok()) return s;
  WarnIfTokenInClear(*logger_, options);
  return absl::OkStatus();
}

void Server::StartListenerCheck(const ServerOptions& options) {
  if (options.listener_check_interval == absl::InfiniteDuration()) return;
  // The probe goes where a local client would. Probes never overlap (the next one
  // starts an interval after the last one ended), so the timeout need not be shorter
  // than the interval: it is generous, so that a loaded machine is not taken for a
  // dead listener.
  const size_t colon = address_.rfind(':');
  std::string host = address_.substr(0, colon);
  const int port = port_;
  const bool tls = options.tls.enabled();
  const absl::Duration timeout = kListenerProbeTimeout;
  const absl::Duration interval = options.listener_check_interval;
  const int failures = options.listener_check_failures;
  listener_check_ = std::make_unique<ListenerCheck>(
      [host, port, tls, timeout] { return ProbeListener(host, port, tls, timeout); },
      interval, failures, [this, interval, failures](const absl::Status& last) {
        logger_->Log(LogLevel::kError, "listener_dead",
                     {{"address", address_},
                      {"failed_probes", failures},
                      {"interval", interval},
                      {"error", last.message()},
                      {"action", "exiting so that a supervisor or standby takes over"}});
        RequestShutdown("listener_check");
      });
}

absl::Status Server::StartAdminSocket(const ServerOptions& options) {
  if (admin_socket_ == nullptr) return absl::OkStatus();
  const bool automatic = options.admin_socket == kAdminSocketAuto;
  const std::string path =
      automatic ? DefaultAdminSocketPath(port_) : options.admin_socket;
  if (absl::Status s = admin_socket_->Listen(path); !s.ok()) {
    if (!automatic) return absl::Status(s.code(), absl::StrCat("--admin_socket: ", s.message()));
    // The default place is a convenience: another user may own /tmp/semaphored-UID,
    // which must not keep the server from starting.
    logger_->Log(LogLevel::kWarn, "admin_socket_unavailable",
                 {{"path", path},
                  {"error", s.message()},
                  {"effect", "no admin socket; give --admin_socket=PATH to have one"}});
    return absl::OkStatus();
  }
  admin_socket_->Start(grpc_server_.get());
  return absl::OkStatus();
}

std::string Server::store_description() const { return store_->Describe(); }

std::string Server::admin_socket_path() const {
  return admin_socket_ != nullptr ? admin_socket_->path() : std::string();
}

Server::~Server() {
  // A server whose Start failed half-way has no gRPC server to stop.
  if (grpc_server_ != nullptr) Shutdown();
}

Core::DrainResult Server::Drain(absl::string_view trigger) {
  {
    absl::MutexLock lock(&mu_);
    if (drained_) return {};
    drained_ = true;
  }
  // Health first, so that load balancers stop sending new work.
  health_service_->SetServing(false);
  const Core::DrainResult result = core_->Drain();
  LogDrain(*logger_, trigger, result.woken_waiters, result.ended_sessions);
  return result;
}

void Server::RequestShutdown(absl::string_view trigger) {
  absl::MutexLock lock(&mu_);
  if (!shutdown_request_.has_value()) shutdown_request_ = std::string(trigger);
}

std::optional<std::string> Server::AwaitShutdownRequest(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(this, &Server::ShutdownRequested), timeout);
  return shutdown_request_;
}

void Server::Shutdown() {
  std::string trigger;
  {
    absl::MutexLock lock(&mu_);
    if (shutting_down_) {
      mu_.Await(absl::Condition(&shut_down_));
      return;
    }
    shutting_down_ = true;
    if (!shutdown_request_.has_value()) shutdown_request_ = "shutdown";
    trigger = *shutdown_request_;
  }
  // Stopped first: a probe must not see the listener going away and report it dead.
  listener_check_.reset();
  Drain(trigger);
  // Watch calls never end by themselves; the drain ended every session stream.
  health_service_->Shutdown();
  // No new connections may be handed to gRPC once it shuts down.
  if (admin_socket_ != nullptr) admin_socket_->Stop();
  grpc_server_->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
  grpc_server_->Wait();
  if (metrics_http_ != nullptr) metrics_http_->Stop();
  ticker_.reset();
  // Commits what the last calls left (their answers go nowhere now), so that the
  // store holds every effect the memory had.
  committer_.reset();
  absl::MutexLock lock(&mu_);
  shut_down_ = true;
}

void Server::Wait() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&shut_down_));
}

}  // namespace semaphored::server
