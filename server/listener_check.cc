#include "server/listener_check.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"

namespace semaphored::internal {
namespace {

// The HTTP/2 client connection preface followed by an empty SETTINGS frame (RFC 9113
// section 3.4): what every gRPC client sends first.
constexpr char kPreface[] =
    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    "\x00\x00\x00\x04\x00\x00\x00\x00\x00";
constexpr size_t kPrefaceSize = sizeof kPreface - 1;
constexpr size_t kFrameHeaderSize = 9;
constexpr unsigned char kSettingsFrameType = 0x04;

// Closes a descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  const int fd_;
};

// Waits for `events` on `fd` until `deadline`; false on timeout or error.
bool PollUntil(int fd, short events, absl::Time deadline) {
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

std::string Errno(int error) { return std::strerror(error); }

}  // namespace

absl::Status ProbeListener(const std::string& host, int port, bool tls,
                           absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::string_view bare = host;
  if (bare.size() >= 2 && bare.front() == '[' && bare.back() == ']') {
    bare = bare.substr(1, bare.size() - 2);
  }
  const std::string where = absl::StrCat(host, ":", port);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(std::string(bare).c_str(), std::to_string(port).c_str(),
                                   &hints, &found);
      rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve ", where, ": ", ::gai_strerror(rc)));
  }
  const Fd sock(::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  const int socket_error = errno;
  std::string address(reinterpret_cast<const char*>(found->ai_addr), found->ai_addrlen);
  ::freeaddrinfo(found);
  if (sock.get() < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot make a socket to probe ", where, ": ", Errno(socket_error)));
  }
  if (::connect(sock.get(), reinterpret_cast<const sockaddr*>(address.data()),
                static_cast<socklen_t>(address.size())) != 0 &&
      errno != EINPROGRESS) {
    return absl::UnavailableError(absl::StrCat("cannot connect to ", where, ": ", Errno(errno)));
  }
  if (!PollUntil(sock.get(), POLLOUT, deadline)) {
    return absl::UnavailableError(absl::StrCat("connecting to ", where, " timed out"));
  }
  int error = 0;
  socklen_t len = sizeof error;
  ::getsockopt(sock.get(), SOL_SOCKET, SO_ERROR, &error, &len);
  if (error != 0) {
    return absl::UnavailableError(absl::StrCat("cannot connect to ", where, ": ", Errno(error)));
  }
  // The preface is far smaller than any socket buffer: one send writes it whole.
  if (::send(sock.get(), kPreface, kPrefaceSize, MSG_NOSIGNAL) !=
      static_cast<ssize_t>(kPrefaceSize)) {
    return absl::UnavailableError(
        absl::StrCat("cannot send the HTTP/2 preface to ", where, ": ", Errno(errno)));
  }
  unsigned char header[kFrameHeaderSize];
  size_t got = 0;
  while (got < kFrameHeaderSize) {
    if (!PollUntil(sock.get(), POLLIN, deadline)) {
      return absl::UnavailableError(absl::StrCat(
          "connected to ", where, " but the server did not answer within ",
          absl::FormatDuration(timeout), " (the listener is not accepting connections)"));
    }
    const ssize_t n = ::recv(sock.get(), header + got, kFrameHeaderSize - got, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    // TLS: any answer, an alert or a close, means the connection was accepted and
    // handed to the TLS handshake.
    if (tls) return absl::OkStatus();
    if (n <= 0) {
      return absl::UnavailableError(absl::StrCat(
          "the server at ", where, " closed the probe connection without HTTP/2 settings",
          n < 0 ? absl::StrCat(": ", Errno(errno)) : std::string()));
    }
    got += static_cast<size_t>(n);
  }
  if (header[3] != kSettingsFrameType) {
    return absl::UnavailableError(
        absl::StrCat("the server at ", where, " answered the HTTP/2 preface with frame type ",
                     static_cast<int>(header[3]), " instead of SETTINGS"));
  }
  return absl::OkStatus();
}

ListenerCheck::ListenerCheck(Probe probe, absl::Duration interval, int failures_allowed,
                             OnDead on_dead)
    : probe_(std::move(probe)),
      interval_(interval),
      failures_allowed_(failures_allowed < 1 ? 1 : failures_allowed),
      on_dead_(std::move(on_dead)),
      thread_([this] { Run(); }) {}

ListenerCheck::~ListenerCheck() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

int64_t ListenerCheck::probes() const {
  absl::MutexLock lock(&mu_);
  return probes_;
}

int64_t ListenerCheck::failed_probes() const {
  absl::MutexLock lock(&mu_);
  return failed_probes_;
}

void ListenerCheck::Run() {
  int in_a_row = 0;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stop_), interval_);
      if (stop_) return;
    }
    // Probed without the lock, so that the destructor's wait is bounded by one probe.
    const absl::Status status = probe_();
    {
      absl::MutexLock lock(&mu_);
      ++probes_;
      if (!status.ok()) ++failed_probes_;
      if (stop_) return;
    }
    in_a_row = status.ok() ? 0 : in_a_row + 1;
    if (in_a_row >= failures_allowed_) {
      on_dead_(status);  // the destructor's join waits for it
      return;
    }
  }
}

}  // namespace semaphored::internal
