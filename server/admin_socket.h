#ifndef SEMAPHORED_SERVER_ADMIN_SOCKET_H_
#define SEMAPHORED_SERVER_ADMIN_SOCKET_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/observability/logger.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace semaphored::server {

// Who is at the other end of a Unix socket connection (SO_PEERCRED).
struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

// Whether a process running as `uid` may use the admin socket of a server running as
// `server_uid`: root, or the server's own user.
bool AdminSocketAllows(uid_t uid, uid_t server_uid);

// The server's admin socket: a Unix socket on which this machine's root and the
// server's own user reach every service, the admin service without a token.
//
// Why it can be trusted: the socket file has mode 0600 in a directory that only its
// owner (the server's user or root) can write, so nobody else can connect to it or put
// another file in its place; each connection's peer uid is read with SO_PEERCRED when
// it is accepted, and a connection from any other user is closed before gRPC sees a
// byte. Accepted connections are handed to gRPC with AddInsecureChannelFromFd, so
// their calls have the peer "fd:N"; CallerOf(peer) checks, at call time, that fd N is
// a connection on this socket from an allowed user (gRPC 1.51 gives services no peer
// credentials of their own).
//
// Lifecycle: construct (no I/O), Listen(path), Start(server) once gRPC is running,
// Stop() before gRPC shuts down; these three are called by one thread (the server's
// start and shutdown). path(), CallerOf() and refused_count() are thread-safe.
class AdminSocket {
 public:
  // `logger` (refused connections, WARN admin_socket_refused) must outlive this.
  explicit AdminSocket(const Logger* logger);
  // Stops (see Stop).
  ~AdminSocket();
  AdminSocket(const AdminSocket&) = delete;
  AdminSocket& operator=(const AdminSocket&) = delete;

  // Creates the socket at `path`, mode 0600, not yet accepting. The directory is made
  // (mode 0700) when missing, its parent must exist. A socket left there by a server
  // that is gone (nobody accepts on it) is replaced. Errors:
  //   INVALID_ARGUMENT   the path is longer than a Unix socket path may be, or
  //                      something other than a socket is there, or the directory is
  //                      not a directory, belongs to another user (not root), or is
  //                      writable by its group or others;
  //   ALREADY_EXISTS     another server is accepting on that path;
  //   UNAVAILABLE        the system refused (mkdir, socket, bind, listen) with errno.
  // Each message names the path and says what to do.
  absl::Status Listen(const std::string& path) ABSL_LOCKS_EXCLUDED(mu_);

  // Starts a thread that accepts connections and gives the allowed ones to `server`,
  // which must be started and stay alive until Stop() returns. No-op unless listening.
  void Start(grpc::Server* server) ABSL_LOCKS_EXCLUDED(mu_);

  // Stops accepting (joins the thread), closes the socket and removes its file (if it
  // is still ours). Connections already handed over stay with gRPC. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  // The socket's path while listening; empty before Listen and after Stop.
  std::string path() const ABSL_LOCKS_EXCLUDED(mu_);

  // The caller behind a gRPC peer string, when it is "fd:N" and fd N is, right now, a
  // connection accepted on this socket from an allowed user; nullopt for any other
  // peer. Cheap (two system calls); never blocks.
  std::optional<PeerCredentials> CallerOf(absl::string_view grpc_peer) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // The number of connections refused because of their user (for tests).
  int64_t refused_count() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void AcceptLoop(grpc::Server* server);
  // Accepts one pending connection: hands it over or closes it. False when the
  // listener has nothing (or only errors) to give.
  bool AcceptOne(grpc::Server* server);

  const Logger* const logger_;
  const uid_t server_uid_;
  // Written before the thread starts and after it is joined.
  int listen_fd_ = -1;
  int wake_fds_[2] = {-1, -1};  // a pipe: a byte on it ends AcceptLoop
  std::thread thread_;
  dev_t socket_dev_ = 0;        // the file made by bind, so that Stop removes only it
  ino_t socket_ino_ = 0;

  mutable absl::Mutex mu_;
  // State below is protected by mu_.
  std::string path_ ABSL_GUARDED_BY(mu_);
  int64_t refused_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_refusal_log_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_ADMIN_SOCKET_H_
