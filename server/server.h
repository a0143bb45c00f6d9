#ifndef SEMAPHORED_SERVER_SERVER_H_
#define SEMAPHORED_SERVER_SERVER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/core.h"
#include "server/observability/logger.h"
#include "server/server_config.h"
#include "server/service/service_limits.h"
#include "server/transport_limits.h"
#include "server/service/admin_throttle.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace semaphored::engine {
class Committer;
class Store;
class Ticker;
}  // namespace semaphored::engine

namespace semaphored::server {

class AdminServiceImpl;
class AdminSocket;
class ClusterView;
class HealthServiceImpl;
class ListenerCheck;
class Metrics;
class MetricsHttpServer;
class SemaphoreServiceImpl;
class ServerTelemetry;

// ServerOptions::admin_socket: the default path for the bound port.
inline constexpr char kAdminSocketAuto[] = "auto";

struct ServerOptions {
  // Where to listen, as HOST:PORT ("[::1]:PORT" for IPv6). Port 0 picks a free port;
  // see Server::port().
  std::string listen_address = "127.0.0.1:50051";
  engine::CoreOptions core;
  // Where the state is kept (store/open_store.h): sessions, holders, waiters and the
  // fencing-token high-water, committed before anything is answered and loaded back
  // at start. Empty: in memory, lost on restart.
  std::string data_dir;
  // Opens the store instead of data_dir when set (a leader's etcd store, guarded by
  // its leadership: see server/main.cc); the server owns the store it returns.
  std::function<absl::StatusOr<std::unique_ptr<engine::Store>>()> open_store;
  // On etcd: this server's place in the cluster (LeadOrStandBy makes it; the server
  // keeps it until it is destroyed), which GetCluster describes and which makes the
  // health Check's role "leader". nullptr: a single server (the server makes its own
  // ClusterView, and its role is "single").
  std::shared_ptr<ClusterView> cluster;
  // Without a data dir: where fencing tokens are recorded so that they keep
  // increasing across restarts (see DurableTokenSource). Empty: in-memory tokens
  // starting at the wall clock in microseconds since the Unix epoch. Not used with a
  // data dir (the store keeps the high-water).
  std::string state_file;
  // The largest request message accepted, in bytes (at least 1024); gRPC answers
  // larger ones RESOURCE_EXHAUSTED.
  int max_message_bytes = 64 * 1024;
  // The admin service's bearer token, needed by every admin call over TCP; empty: the
  // admin service answers only on the admin socket.
  std::string admin_token;
  // Where to serve every service as a Unix socket to this machine's root and the
  // server's own user, the admin service without a token (AdminSocket):
  // kAdminSocketAuto: DefaultAdminSocketPath(port) (common/local_admin.h), and when it
  // cannot be made a WARN line and no socket; a path: that socket, or Start fails;
  // empty: none.
  std::string admin_socket;
  // How refused admin attempts are throttled and their log lines rate-limited, per
  // peer host (AdminThrottle). Tests loosen it; the defaults are the product's.
  AdminThrottle::Options admin_throttle;
  // TLS for the gRPC listener (server_config.h); empty: plaintext.
  TlsOptions tls;
  // Where to serve Prometheus metrics over HTTP (GET /metrics), as HOST:PORT; port
  // 0 picks a free port (see metrics_port()). Empty: no metrics endpoint.
  std::string metrics_address;
  // Log lines (session start/end, admin actions, drain): format and destination.
  LogFormat log_format = LogFormat::kText;
  LogSink* log_sink = nullptr;  // nullptr: stderr. Not owned; must outlive the server.
  // Bounds on answers and StreamSession streams (listed holders, answer budget,
  // first-message deadline).
  ServiceLimits service_limits;
  // HTTP/2 and connection limits of the gRPC listener (transport_limits.h).
  TransportLimits transport;
  // Every this often the server probes its own gRPC listener (see ListenerCheck; a
  // probe not answered within 2 s fails); after listener_check_failures failed
  // probes in a row it logs "listener_dead"
  // (ERROR) and requests shutdown with trigger "listener_check". InfiniteDuration:
  // no check.
  absl::Duration listener_check_interval = absl::Seconds(5);
  int listener_check_failures = 3;
};

// A running semaphored server: a Core driven by a Ticker, served over gRPC
// (semaphored.v1.SemaphoreService, semaphored.v1.AdminService, grpc.health.v1.Health,
// server reflection) on a plaintext or TLS listener, with optional Prometheus
// metrics over HTTP and structured log lines.
//
// Shutdown protocol: the owner (main) waits in AwaitShutdownRequest() -- together with
// its signals -- and then calls Shutdown() from its own thread. The admin Drain RPC
// drains at once, answers, and calls RequestShutdown("admin"); the server itself never
// stops gRPC from a gRPC thread and starts no thread of its own for that.
//
// Thread-safe. Drain, Shutdown, RequestShutdown and the waits may be called from any
// thread (Shutdown never from a gRPC callback), several times.
class Server {
 public:
  // Builds and starts the server. Fails with INVALID_ARGUMENT for bad options (TLS
  // material included, and an admin token too short: ValidateAdminToken), UNAVAILABLE
  // when the address (or the metrics address) cannot be bound, the store's error (the
  // data dir in use, unreadable, corrupt, of a newer format) or the state file's, or
  // for an explicit admin socket path AdminSocket::Listen's error. When a commit to
  // the store fails, the server answers nothing more and requests shutdown with
  // trigger "store_failed" (its owner must exit, so that a restart loads the state
  // the store kept).
  static absl::StatusOr<std::unique_ptr<Server>> Start(ServerOptions options);

  // Shuts down (see Shutdown) if not done yet.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound port.
  int port() const { return port_; }
  // HOST:PORT to connect to: the listen address's host with the bound port; a
  // wildcard host (0.0.0.0, [::]) becomes the loopback address of its family.
  std::string address() const { return address_; }
  // The admin socket's path; empty when there is none.
  std::string admin_socket_path() const;
  // The bound metrics port; 0 when metrics are off.
  int metrics_port() const { return metrics_port_; }
  // The core, for in-process administration and tests. Valid until destruction.
  engine::Core& core() { return *core_; }
  // What the store loaded at start, and how long that took.
  const engine::LoadSummary& loaded() const { return loaded_; }
  // The store, as the startup line shows it ("in memory: state is lost on restart",
  // "sqlite DIR/semaphored.db").
  std::string store_description() const;
  Metrics& metrics() { return *metrics_; }
  const Logger& logger() const { return *logger_; }

  // Starts a graceful drain: health turns NOT_SERVING, new sessions and sets get
  // UNAVAILABLE, waiters are woken with UNAVAILABLE "server is shutting down" and
  // sessions end (their streams are told). Logs "drain trigger=<trigger> ...". Does
  // not stop gRPC. Idempotent: later calls do nothing and return zero counts.
  engine::Core::DrainResult Drain(absl::string_view trigger = "shutdown")
      ABSL_LOCKS_EXCLUDED(mu_);
  // Records that the server should be shut down (the first trigger is kept) and wakes
  // AwaitShutdownRequest. Stops nothing itself; never blocks.
  void RequestShutdown(absl::string_view trigger) ABSL_LOCKS_EXCLUDED(mu_);
  // Blocks until RequestShutdown() or Shutdown() has been called, or `timeout`
  // passes; returns the trigger ("admin", "SIGTERM"...; "shutdown" for Shutdown()),
  // or nullopt on timeout.
  std::optional<std::string> AwaitShutdownRequest(
      absl::Duration timeout = absl::InfiniteDuration()) ABSL_LOCKS_EXCLUDED(mu_);
  // Drain() (with the requested trigger, if any), then stops gRPC: calls still running
  // after a short grace period are cancelled; then stops the metrics endpoint and the
  // ticker. Returns when every call and thread has finished. Idempotent; a concurrent
  // caller waits for the first one to finish. Must not be called on a gRPC thread.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);
  // Blocks until Shutdown() has completed (called by another thread).
  void Wait() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  Server();
  // Opens and loads the store, then builds the token source and the core from it.
  absl::Status StartEngine(const ServerOptions& options);
  absl::Status StartGrpc(const ServerOptions& options);
  void StartListenerCheck(const ServerOptions& options);
  // Listens on options.admin_socket (see ServerOptions) once gRPC runs.
  absl::Status StartAdminSocket(const ServerOptions& options);
  bool ShutdownRequested() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return shutdown_request_.has_value();
  }

  // Destroyed in reverse order: gRPC first (no more calls), then the services, the
  // metrics endpoint, the ticker, the committer (which commits what is left), the
  // core, the token source and the store the core uses, then the observer, metrics
  // and logger the core and services report to.
  std::unique_ptr<Logger> logger_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<ServerTelemetry> observer_;
  std::unique_ptr<engine::Store> store_;
  std::unique_ptr<engine::TokenSource> tokens_;
  std::unique_ptr<engine::Core> core_;
  std::unique_ptr<engine::Committer> committer_;
  std::unique_ptr<engine::Ticker> ticker_;
  engine::LoadSummary loaded_;
  std::unique_ptr<MetricsHttpServer> metrics_http_;
  // Answers GetCluster calls until gRPC has stopped.
  std::shared_ptr<ClusterView> cluster_;
  // Stopped by Shutdown before gRPC; outlives the admin service, which asks it who
  // its callers are.
  std::unique_ptr<AdminSocket> admin_socket_;
  std::unique_ptr<SemaphoreServiceImpl> semaphore_service_;
  std::unique_ptr<AdminServiceImpl> admin_service_;
  std::unique_ptr<HealthServiceImpl> health_service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<ListenerCheck> listener_check_;  // stopped first
  int port_ = 0;
  int metrics_port_ = 0;
  std::string address_;

  absl::Mutex mu_;
  // State below is protected by mu_.
  bool drained_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<std::string> shutdown_request_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_SERVER_H_
