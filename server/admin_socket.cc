// The admin Unix socket: accepts local administrators and hands them to gRPC.

#include "server/admin_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "grpcpp/server.h"
#include "grpcpp/server_posix.h"

namespace semaphored::server {
namespace {

// While accept fails for want of descriptors, the loop waits this long before trying
// again instead of spinning on a listener that stays readable.
constexpr int kAcceptErrorPauseMs = 100;
// Refused connections are logged at most once per this interval (with a count).
constexpr absl::Duration kRefusalLogInterval = absl::Seconds(1);

std::string Errno(int err) { return std::strerror(err); }

std::string Dirname(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

absl::StatusOr<sockaddr_un> SocketAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "admin socket path \"", path, "\" is empty or longer than ",
        sizeof(addr.sun_path) - 1, " bytes (the limit of a Unix socket path); give a "
        "shorter --admin_socket"));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

// The directory holding the socket must be writable by its owner only, and that owner
// must be us or root: otherwise someone else could swap the socket for their own.
absl::Status PrepareDirectory(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::UnavailableError(absl::StrCat("cannot create the admin socket directory \"",
                                               dir, "\": ", Errno(errno)));
  }
  struct stat st {};
  if (lstat(dir.c_str(), &st) != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot inspect the admin socket directory \"", dir, "\": ",
                     Errno(errno)));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the admin socket directory \"", dir,
        "\" is not a directory (a symbolic link is not accepted); give another "
        "--admin_socket"));
  }
  if (st.st_uid != geteuid() && st.st_uid != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the admin socket directory \"", dir, "\" belongs to uid ", st.st_uid,
        ", neither this server's user (uid ", geteuid(),
        ") nor root: its owner could replace the socket; give a directory of yours "
        "with --admin_socket"));
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the admin socket directory \"%s\" is writable by its group or others (mode "
        "%04o): they could replace the socket; run `chmod go-w %s` or give another "
        "--admin_socket",
        dir, st.st_mode & 07777, dir));
  }
  return absl::OkStatus();
}

// Removes a socket left by a server that is gone; refuses to touch anything else.
absl::Status ClearStaleSocket(const std::string& path, const sockaddr_un& addr) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return absl::UnavailableError(
        absl::StrCat("cannot inspect admin socket \"", path, "\": ", Errno(errno)));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", path, "\" exists and is not a socket; refusing to replace it: remove it "
        "or give another --admin_socket"));
  }
  const int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) {
    return absl::UnavailableError(absl::StrCat("socket: ", Errno(errno)));
  }
  const int rc = connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  const int err = errno;
  close(probe);
  if (rc == 0) {
    return absl::AlreadyExistsError(absl::StrCat(
        "another server is accepting on the admin socket \"", path,
        "\"; stop it, or give this one another --admin_socket"));
  }
  if (err != ECONNREFUSED && err != ENOENT) {
    return absl::UnavailableError(absl::StrCat(
        "cannot tell whether the admin socket \"", path, "\" is in use: ", Errno(err)));
  }
  // Nobody accepts on it: a killed server's leftover.
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return absl::UnavailableError(absl::StrCat("cannot remove the stale admin socket \"",
                                               path, "\": ", Errno(errno)));
  }
  return absl::OkStatus();
}

std::optional<PeerCredentials> PeerCredentialsOf(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred) {
    return std::nullopt;
  }
  return PeerCredentials{cred.pid, cred.uid, cred.gid};
}

}  // namespace

bool AdminSocketAllows(uid_t uid, uid_t server_uid) { return uid == 0 || uid == server_uid; }

AdminSocket::AdminSocket(const Logger* logger) : logger_(logger), server_uid_(geteuid()) {}

AdminSocket::~AdminSocket() { Stop(); }

absl::Status AdminSocket::Listen(const std::string& path) {
  absl::StatusOr<sockaddr_un> addr = SocketAddress(path);
  if (!addr.ok()) return addr.status();
  if (absl::Status s = PrepareDirectory(Dirname(path)); !s.ok()) return s;
  if (absl::Status s = ClearStaleSocket(path, *addr); !s.ok()) return s;
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("socket: ", Errno(errno)));
  auto fail = [&](absl::string_view what) {
    const std::string message = absl::StrCat("cannot ", what, " the admin socket \"",
                                             path, "\": ", Errno(errno));
    close(fd);
    return absl::UnavailableError(message);
  };
  if (bind(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0) {
    return fail("bind");
  }
  // Nobody can connect before listen(), so the mode is right before anyone could.
  struct stat st {};
  if (chmod(path.c_str(), 0600) != 0 || lstat(path.c_str(), &st) != 0) {
    const absl::Status s = fail("set the mode of");
    unlink(path.c_str());
    return s;
  }
  if (listen(fd, SOMAXCONN) != 0) {
    const absl::Status s = fail("listen on");
    unlink(path.c_str());
    return s;
  }
  if (pipe2(wake_fds_, O_CLOEXEC | O_NONBLOCK) != 0) {
    const absl::Status s = fail("make the wake-up pipe of");
    unlink(path.c_str());
    return s;
  }
  listen_fd_ = fd;
  socket_dev_ = st.st_dev;
  socket_ino_ = st.st_ino;
  absl::MutexLock lock(&mu_);
  path_ = path;
  return absl::OkStatus();
}

void AdminSocket::Start(grpc::Server* server) {
  if (listen_fd_ < 0 || thread_.joinable()) return;
  thread_ = std::thread([this, server] { AcceptLoop(server); });
}

void AdminSocket::Stop() {
  if (thread_.joinable()) {
    const char byte = 0;
    // The pipe is empty (only Stop writes), so the write cannot block or fail short.
    (void)!write(wake_fds_[1], &byte, 1);
    thread_.join();
  }
  std::string path;
  {
    absl::MutexLock lock(&mu_);
    path = std::move(path_);
    path_.clear();
  }
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    listen_fd_ = -1;
    // Only our own file: an operator may have removed it and started another server.
    struct stat st {};
    if (lstat(path.c_str(), &st) == 0 && st.st_dev == socket_dev_ &&
        st.st_ino == socket_ino_) {
      unlink(path.c_str());
    }
  }
  for (int& fd : wake_fds_) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
}

std::string AdminSocket::path() const {
  absl::MutexLock lock(&mu_);
  return path_;
}

int64_t AdminSocket::refused_count() const {
  absl::MutexLock lock(&mu_);
  return refused_;
}

void AdminSocket::AcceptLoop(grpc::Server* server) {
  pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fds_[0], POLLIN, 0}};
  int timeout_ms = -1;
  for (;;) {
    fds[0].revents = fds[1].revents = 0;
    const int n = poll(fds, 2, timeout_ms);
    if (n < 0 && errno != EINTR) return;
    if (fds[1].revents != 0) return;  // Stop()
    timeout_ms = -1;
    if (n > 0 && (fds[0].revents & POLLIN) != 0) {
      // Drain the backlog; on a persistent error pause instead of spinning.
      while (AcceptOne(server)) {
      }
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        timeout_ms = kAcceptErrorPauseMs;
      }
    }
  }
}

bool AdminSocket::AcceptOne(grpc::Server* server) {
  // Non-blocking: gRPC's poller expects it (a blocking descriptor stalls its reads).
  const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) return errno == EINTR || errno == ECONNABORTED;
  std::optional<PeerCredentials> cred = PeerCredentialsOf(fd);
  if (cred.has_value() && AdminSocketAllows(cred->uid, server_uid_)) {
    // gRPC owns the descriptor from here on and closes it with the connection.
    grpc::AddInsecureChannelFromFd(server, fd);
    return true;
  }
  bool log = false;
  int64_t refused = 0;
  {
    absl::MutexLock lock(&mu_);
    refused = ++refused_;
    const absl::Time now = absl::Now();
    if (now - last_refusal_log_ >= kRefusalLogInterval) {
      last_refusal_log_ = now;
      log = true;
    }
  }
  if (log && logger_ != nullptr) {
    logger_->Log(LogLevel::kWarn, "admin_socket_refused",
                 {{"uid", cred.has_value() ? static_cast<int64_t>(cred->uid) : -1},
                  {"pid", cred.has_value() ? static_cast<int64_t>(cred->pid) : -1},
                  {"refused_total", refused},
                  {"error", absl::StrCat("only root and the server's user (uid ",
                                         server_uid_, ") may use the admin socket")}});
  }
  // Closed after the refusal is counted and logged, so a caller that sees the close
  // also finds the record of it.
  close(fd);
  return true;
}

std::optional<PeerCredentials> AdminSocket::CallerOf(absl::string_view grpc_peer) const {
  int fd = -1;
  if (!absl::ConsumePrefix(&grpc_peer, "fd:") || !absl::SimpleAtoi(grpc_peer, &fd) ||
      fd < 0) {
    return std::nullopt;
  }
  const std::string path = this->path();
  if (path.empty()) return std::nullopt;
  // Not the listener itself (it has the same name, and SO_PEERCRED gives our own uid).
  int listening = 0;
  socklen_t flag_len = sizeof listening;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &flag_len) != 0 ||
      listening != 0) {
    return std::nullopt;
  }
  // The descriptor must be a connection whose local end is this socket's path: only
  // connections accepted on our listener have that name.
  sockaddr_un local{};
  socklen_t len = sizeof local;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0 ||
      local.sun_family != AF_UNIX || len <= offsetof(sockaddr_un, sun_path)) {
    return std::nullopt;
  }
  const size_t name_len = strnlen(local.sun_path, len - offsetof(sockaddr_un, sun_path));
  if (absl::string_view(local.sun_path, name_len) != path) return std::nullopt;
  std::optional<PeerCredentials> cred = PeerCredentialsOf(fd);
  if (!cred.has_value() || !AdminSocketAllows(cred->uid, server_uid_)) return std::nullopt;
  return cred;
}

}  // namespace semaphored::server
