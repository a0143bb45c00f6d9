#ifndef SEMAPHORED_SERVER_SERVER_H_
#define SEMAPHORED_SERVER_SERVER_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/core/core.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace semaphored::internal {

class HealthServiceImpl;
class SemaphoreServiceImpl;
class Ticker;

struct ServerOptions {
  // Where to listen, as HOST:PORT ("[::1]:PORT" for IPv6). Port 0 picks a free port;
  // see Server::port().
  std::string listen_address = "127.0.0.1:50051";
  CoreOptions core;
  // Where fencing tokens are recorded so that they keep increasing across restarts
  // (see DurableTokenSource). Empty: in-memory tokens starting at the wall clock in
  // microseconds since the Unix epoch.
  std::string state_file;
  // The largest request message accepted, in bytes; larger ones get RESOURCE_EXHAUSTED.
  int max_message_bytes = 64 * 1024;
};

// A running semaphored server: a Core driven by a Ticker, served over gRPC
// (semaphored.v1.SemaphoreService, grpc.health.v1.Health, server reflection) on an
// insecure listener.
//
// Thread-safe. Drain, Shutdown and Wait may be called from any thread, several times.
class Server {
 public:
  // Builds and starts the server. Fails with INVALID_ARGUMENT for bad options,
  // UNAVAILABLE when the address cannot be bound, or the state file's error.
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
  // The core, for in-process administration and tests. Valid until destruction.
  Core& core() { return *core_; }

  // Starts a graceful drain: health turns NOT_SERVING, new sessions and sets get
  // UNAVAILABLE, waiters are woken with UNAVAILABLE "server is shutting down" and
  // sessions end (their streams are told). Does not stop gRPC. Idempotent.
  void Drain() ABSL_LOCKS_EXCLUDED(mu_);
  // Drain(), then stops gRPC: calls still running after a short grace period are
  // cancelled; returns when every call and thread has finished. Idempotent; a
  // concurrent caller waits for the first one to finish.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);
  // Blocks until Shutdown() has completed (called by another thread).
  void Wait() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  Server();

  // Destroyed in reverse order: gRPC first (no more calls), then the services, the
  // ticker, the core and the token source the core uses.
  std::unique_ptr<TokenSource> tokens_;
  std::unique_ptr<Core> core_;
  std::unique_ptr<Ticker> ticker_;
  std::unique_ptr<SemaphoreServiceImpl> semaphore_service_;
  std::unique_ptr<HealthServiceImpl> health_service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  int port_ = 0;
  std::string address_;

  absl::Mutex mu_;
  // State below is protected by mu_.
  bool drained_ ABSL_GUARDED_BY(mu_) = false;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace semaphored::internal

#endif  // SEMAPHORED_SERVER_SERVER_H_
