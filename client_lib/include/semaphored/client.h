#ifndef SEMAPHORED_CLIENT_H_
#define SEMAPHORED_CLIENT_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "semaphored/errors.h"
#include "semaphored/export.h"
#include "semaphored/permit.h"
#include "semaphored/session.h"
#include "semaphored/types.h"

namespace semaphored {

namespace internal {
class Connection;
class ClientAccess;
}  // namespace internal

// How to connect to a semaphored server.
struct ClientOptions {
  // The server's address, "host:port" (for example "127.0.0.1:50051"), or any gRPC
  // target ("dns:///semaphores.example:50051", "unix:///run/semaphored.sock"). Several
  // servers sharing one etcd (one leads, the others stand by): their addresses,
  // comma-separated ("10.0.0.1:50051,10.0.0.2:50051"); calls go to the leader, found
  // by trying them and following a standby's "the leader is at" answer, and a session
  // whose leader is lost resumes on the next one.
  std::string address;
  // How long Connect waits for the server to become reachable.
  absl::Duration connect_timeout = absl::Seconds(5);
  // Bounds calls that do not wait for a semaphore (open/close a session, test); calls
  // that wait are bounded by their own timeout.
  absl::Duration call_timeout = absl::Seconds(10);
  // The default client name of sessions. Empty: "HOST/PID".
  std::string client_name;
  // TLS. With `tls` false (the default) the connection is plaintext and the fields
  // below must be empty. With `tls` true the server's certificate is verified against
  // `tls_ca_file` (PEM; empty: the system's root certificates); `tls_cert_file` and
  // `tls_key_file` (PEM, both or neither) present a client certificate for mutual TLS.
  // Connect fails with INVALID_ARGUMENT naming the file when one cannot be read.
  bool tls = false;
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
};

// A connection to a semaphored server (or, from Local(), to no server at all), from
// which sessions are opened.
//
//   semaphored::ClientOptions options;
//   options.address = "127.0.0.1:50051";
//   absl::StatusOr<std::unique_ptr<semaphored::Client>> client =
//       semaphored::Client::Connect(options);
//   if (!client.ok()) return client.status();  // UNAVAILABLE "cannot connect to ..."
//   auto session = (*client)->OpenSession();   // StatusOr<unique_ptr<Session>>
//   auto permit = (*session)->Acquire("billing");  // StatusOr<Permit>
//
// One Client (one gRPC channel) serves any number of sessions; create it once per
// process and share it. Sessions keep what they need of the client alive, so the
// Client may be destroyed before its sessions. Thread-safe.
class SEMAPHORED_EXPORT Client {
 public:
  // Connects to `options.address`, waiting up to options.connect_timeout for the
  // server to be reachable. Errors: INVALID_ARGUMENT for an empty address or a bad
  // client name; UNAVAILABLE "cannot connect to ADDRESS: <reason>" when the server
  // cannot be reached within the timeout. Blocks.
  static absl::StatusOr<std::unique_ptr<Client>> Connect(ClientOptions options);
  // A client with no server, for local '$' semaphores only: global names fail with
  // FAILED_PRECONDITION. `options.address` is ignored. Never blocks.
  static std::unique_ptr<Client> Local(ClientOptions options = {});

  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Opens a session (see session.h). Errors: INVALID_ARGUMENT (client name, TTL
  // outside the server's bounds), UNAVAILABLE (server unreachable or shutting down),
  // RESOURCE_EXHAUSTED (too many sessions). Blocks up to call_timeout. The session
  // ends when the returned object is destroyed or closed.
  absl::StatusOr<std::unique_ptr<Session>> OpenSession(SessionOptions options = {});

  // Tests a semaphore without a session (see Session::Test). Retried on UNAVAILABLE.
  absl::StatusOr<SemaphoreInfo> Test(std::string_view name);
  // An empty round trip to the server (OK for a local client). Retried on UNAVAILABLE.
  absl::Status Ping();

  // The server's address; empty for a local client.
  const std::string& address() const;

 private:
  friend class internal::ClientAccess;
  explicit Client(std::shared_ptr<internal::Connection> connection);

  std::shared_ptr<internal::Connection> connection_;
};

}  // namespace semaphored

#endif  // SEMAPHORED_CLIENT_H_
