#ifndef SEMAPHORED_CLIENT_LIB_SRC_CONNECTION_H_
#define SEMAPHORED_CLIENT_LIB_SRC_CONNECTION_H_

#include <memory>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executor.h"
#include "local_core.h"
#include "retry_policy.h"
#include "semaphored/client.h"
#include "stub.h"

namespace semaphored::internal {

// What a Client is made of: the options, the transport (none for a local client),
// the core of '$' semaphores, and the background threads shared by its sessions.
// Sessions hold a shared reference, so a Connection lives as long as its Client or
// any of its sessions. Thread-safe.
class Connection {
 public:
  // `stub` may be null (no server). `local` must outlive the connection.
  Connection(ClientOptions options, std::shared_ptr<Stub> stub, LocalCore local);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  const ClientOptions& options() const { return options_; }
  // Null for a client without a server.
  Stub* stub() const { return stub_.get(); }
  const LocalCore& local() const { return local_; }
  // Keepalive timers of the sessions.
  Executor& timers() { return timers_; }
  // User callbacks of the sessions, one at a time and in order.
  Executor& callbacks() { return callbacks_; }

  // Client::Test and Client::Ping: routed by name, retried on UNAVAILABLE.
  absl::StatusOr<SemaphoreInfo> Test(absl::string_view name);
  absl::Status Ping();

  // For tests: replaces the retry policy. Call before use.
  void set_retry_policy(RetryPolicy policy) { retry_ = std::move(policy); }

 private:
  const ClientOptions options_;
  const std::shared_ptr<Stub> stub_;
  const LocalCore local_;
  RetryPolicy retry_;
  // Declared last: destroyed first, so their threads stop before the rest goes.
  Executor callbacks_;
  Executor timers_;
};

// A client name for "HOST/PID".
std::string DefaultClientName();

}  // namespace semaphored::internal

#endif  // SEMAPHORED_CLIENT_LIB_SRC_CONNECTION_H_
