// A self-check that the gRPC listener still accepts connections.

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

namespace semaphored::server {
namespace {

// The HTTP/2 client connection preface followed by an empty SETTINGS frame (RFC 9113
// section 3.4): what every gRPC client sends first.
constexpr char kPreface[] =
    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    "\x00\x00\x00\x04\x00\x00\x00\x00\x00";
constexpr size_t kPrefaceSize = sizeof kPreface - 1;
constexpr size_t kFrameHeaderSize = 9;

// A TLS 1.2 ClientHello (RFC 5246 7.4.1.2) that any gRPC TLS server answers with its
// ServerHello: ECDHE with AES-GCM, groups P-256 and X25519, ALPN "h2". Sent instead of
// the preface on a TLS listener, so that the probe is an ordinary (abandoned)
// handshake rather than garbage the server would log as an error.
constexpr unsigned char kClientHello[] = {
    0x16, 0x03, 0x01, 0x00, 0x5c,  // record: handshake, 92 bytes
    0x01, 0x00, 0x00, 0x58,        // ClientHello, 88 bytes
    0x03, 0x03,                    // TLS 1.2
    // random (32 bytes; not secret: nothing is ever encrypted with it)
    0x73, 0x65, 0x6d, 0x61, 0x70, 0x68, 0x6f, 0x72, 0x65, 0x64, 0x20, 0x6c, 0x69, 0x73,
    0x74, 0x65, 0x6e, 0x65, 0x72, 0x20, 0x63, 0x68, 0x65, 0x63, 0x6b, 0x20, 0x70, 0x72,
    0x6f, 0x62, 0x65, 0x21,
    0x00,                                                  // no session id
    0x00, 0x08, 0xc0, 0x2f, 0xc0, 0x2b, 0xc0, 0x30, 0xc0, 0x2c,  // cipher suites
    0x01, 0x00,                                            // no compression
    0x00, 0x27,                                            // extensions, 39 bytes
    0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x17, 0x00, 0x1d,  // supported groups
    0x00, 0x0b, 0x00, 0x02, 0x01, 0x00,                    // EC point formats
    0x00, 0x0d, 0x00, 0x0a, 0x00, 0x08, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01, 0x05,
    0x01,                                                  // signature algorithms
    0x00, 0x10, 0x00, 0x05, 0x00, 0x03, 0x02, 0x68, 0x32,  // ALPN "h2"
};
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
  // Far smaller than any socket buffer: one send writes it whole.
  const void* hello = tls ? static_cast<const void*>(kClientHello) : kPreface;
  const size_t hello_size = tls ? sizeof kClientHello : kPrefaceSize;
  if (::send(sock.get(), hello, hello_size, MSG_NOSIGNAL) != static_cast<ssize_t>(hello_size)) {
    return absl::UnavailableError(absl::StrCat("cannot send the ",
                                               tls ? "TLS ClientHello" : "HTTP/2 preface",
                                               " to ", where, ": ", Errno(errno)));
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
    // TLS: any answer (the ServerHello, an alert, a close) means the connection was
    // accepted and handed to the TLS handshake.
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

}  // namespace semaphored::server
