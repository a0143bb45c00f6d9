// The HTTP endpoint that serves the Prometheus metrics.

#include "server/observability/metrics_http_server.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <list>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "server/observability/exposition.h"
#include "server/observability/http_request.h"

namespace semaphored::server {
namespace {

// After the answer is sent (and our side shut down), how long the server waits for
// the client to close, discarding at most kLingerDiscardBytes of what it still sends.
// Closing at once with unread bytes (a refused POST's body) would reset the
// connection and could destroy the answer before the client read it.
constexpr absl::Duration kLinger = absl::Seconds(1);
constexpr size_t kLingerDiscardBytes = 64 * 1024;
// How long accepting pauses when the process is out of file descriptors.
constexpr absl::Duration kAcceptBackoff = absl::Milliseconds(100);
// Connections accepted per wake-up at most, so that a flood cannot starve the others.
constexpr int kAcceptsPerRound = 64;

int PollMillis(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(d) + 1, 60'000));
}

}  // namespace

absl::StatusOr<HostPort> ParseListenAddress(absl::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listen address \"", address, "\" has no port: use host:port, e.g. 127.0.0.1:9090"));
  }
  absl::string_view host = address.substr(0, colon);
  const absl::string_view port_text = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listen address \"", address, "\": put an IPv6 address in brackets, e.g. [::1]:9090"));
  }
  int port = -1;
  const bool digits = !port_text.empty() && port_text.size() <= 5 &&
                      std::all_of(port_text.begin(), port_text.end(),
                                  [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || !absl::SimpleAtoi(port_text, &port) || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listen address \"", address, "\": the port must be a number from 0 to 65535"));
  }
  HostPort result;
  result.host = host.empty() ? "0.0.0.0" : std::string(host);
  result.port = port;
  return result;
}

class MetricsHttpServer::Impl {
 public:
  Impl(std::function<std::string()> render, Options options)
      : render_(std::move(render)), options_(options) {}
  ~Impl() {
    Stop();
    if (wake_fd_ >= 0) ::close(wake_fd_);
  }

  absl::Status Start(absl::string_view address) ABSL_LOCKS_EXCLUDED(mu_);
  int port() const { return port_.load(); }
  Stats stats() const ABSL_LOCKS_EXCLUDED(stats_mu_) {
    absl::MutexLock lock(&stats_mu_);
    return stats_;
  }
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  enum class Phase { kReading, kWriting, kLingering };
  struct Connection {
    int fd = -1;
    Phase phase = Phase::kReading;
    absl::Time deadline;  // closed then, whatever its phase
    std::string in;       // the request head so far
    std::string out;      // the answer
    size_t written = 0;
    size_t discarded = 0;  // bytes read and dropped while lingering
  };
  using Connections = std::list<Connection>;  // oldest first

  absl::Status Bind(const HostPort& where, absl::string_view address);
  void Loop();
  void AcceptNew(absl::Time now);
  bool MakeRoom();
  // Each returns false when the connection is to be closed now.
  bool OnReadable(Connection& c, absl::Time now);
  bool OnWritable(Connection& c, absl::Time now);
  void Answer(Connection& c);
  void Close(Connections::iterator it);
  template <typename F>
  void Count(F f) ABSL_LOCKS_EXCLUDED(stats_mu_) {
    absl::MutexLock lock(&stats_mu_);
    f(stats_);
  }

  const std::function<std::string()> render_;
  const Options options_;
  int listen_fd_ = -1;  // owned by the loop once started
  int wake_fd_ = -1;    // an eventfd: Stop() wakes the loop
  std::atomic<int> port_{0};
  std::atomic<bool> stop_{false};
  // Used by the loop thread only.
  Connections connections_;
  absl::Time accept_paused_until_ = absl::InfinitePast();

  mutable absl::Mutex stats_mu_;
  Stats stats_ ABSL_GUARDED_BY(stats_mu_);

  absl::Mutex mu_;
  // State below is protected by mu_.
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_ ABSL_GUARDED_BY(mu_);
};

absl::Status MetricsHttpServer::Impl::Bind(const HostPort& where, absl::string_view address) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(where.host.c_str(), std::to_string(where.port).c_str(),
                               &hints, &found);
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen for metrics on ", address, ": ",
                                               ::gai_strerror(rc)));
  }
  int error = 0;
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      error = errno;
      continue;
    }
    // SO_REUSEADDR only (restart quickly); never SO_REUSEPORT, which would let a
    // second server bind the same port and silently share the scrapes.
    int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, 128) == 0) {
      listen_fd_ = fd;
      break;
    }
    error = errno;
    ::close(fd);
  }
  ::freeaddrinfo(found);
  if (listen_fd_ < 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen for metrics on ", address,
        error != 0 ? absl::StrCat(": ", std::strerror(error)) : std::string(),
        " (is the port in use, or the host not a local address?)"));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  const int port = bound.ss_family == AF_INET6
                       ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                       : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  port_.store(port);
  return absl::OkStatus();
}

absl::Status MetricsHttpServer::Impl::Start(absl::string_view address) {
  absl::StatusOr<HostPort> where = ParseListenAddress(address);
  if (!where.ok()) return where.status();
  if (options_.max_connections < 1 || options_.max_request_bytes < 256 ||
      options_.request_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "metrics server options: max_connections must be at least 1, max_request_bytes "
        "at least 256 and request_timeout positive");
  }
  absl::MutexLock lock(&mu_);
  if (started_) {
    return absl::FailedPreconditionError(
        "the metrics server can be started only once (Start was called before)");
  }
  started_ = true;
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen for metrics on ", address, ": ", std::strerror(errno)));
  }
  if (absl::Status s = Bind(*where, address); !s.ok()) return s;
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void MetricsHttpServer::Impl::Stop() {
  std::thread thread;
  {
    absl::MutexLock lock(&mu_);
    thread = std::move(thread_);
  }
  if (!thread.joinable()) return;
  stop_.store(true);
  const uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
  thread.join();
}

void MetricsHttpServer::Impl::Loop() {
  std::vector<pollfd> fds;
  std::vector<Connections::iterator> polled;
  while (!stop_.load()) {
    const absl::Time now = absl::Now();
    // Deadlines first: a connection past its time is closed whatever it is doing.
    absl::Time next = now + absl::Seconds(60);
    for (auto it = connections_.begin(); it != connections_.end();) {
      if (it->deadline <= now) {
        if (it->phase != Phase::kLingering) Count([](Stats& s) { ++s.timed_out; });
        Close(it++);
        continue;
      }
      next = std::min(next, it->deadline);
      ++it;
    }
    fds.clear();
    polled.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    const bool accepting = now >= accept_paused_until_;
    if (accepting) {
      fds.push_back({listen_fd_, POLLIN, 0});
    } else {
      next = std::min(next, accept_paused_until_);
    }
    for (auto it = connections_.begin(); it != connections_.end(); ++it) {
      fds.push_back({it->fd, static_cast<short>(it->phase == Phase::kWriting ? POLLOUT : POLLIN),
                     0});
      polled.push_back(it);
    }
    const int n = ::poll(fds.data(), fds.size(), PollMillis(next - now));
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    const absl::Time after = absl::Now();
    const size_t first_connection = accepting ? 2 : 1;
    for (size_t i = first_connection; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      Connection& c = *polled[i - first_connection];
      const bool keep = c.phase == Phase::kWriting ? OnWritable(c, after) : OnReadable(c, after);
      if (!keep) Close(polled[i - first_connection]);
    }
    // New connections last, so that making room never closes one polled above.
    if (accepting && fds[1].revents != 0) AcceptNew(after);
  }
  while (!connections_.empty()) Close(connections_.begin());
  ::close(listen_fd_);
  listen_fd_ = -1;
}

void MetricsHttpServer::Impl::AcceptNew(absl::Time now) {
  for (int i = 0; i < kAcceptsPerRound; ++i) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        accept_paused_until_ = now + kAcceptBackoff;
      }
      return;  // EAGAIN: nothing left; anything else: try again next round
    }
    Count([](Stats& s) { ++s.accepted; });
    if (static_cast<int>(connections_.size()) >= options_.max_connections && !MakeRoom()) {
      Count([](Stats& s) { ++s.refused; });
      ::close(fd);
      continue;
    }
    Connection c;
    c.fd = fd;
    c.deadline = now + options_.request_timeout;
    connections_.push_back(std::move(c));
    Count([](Stats& s) { ++s.open; });
  }
}

bool MetricsHttpServer::Impl::MakeRoom() {
  // An answered connection first (it only waits for the client to close), else the
  // oldest one still sending its request; never one being answered.
  for (Phase phase : {Phase::kLingering, Phase::kReading}) {
    for (auto it = connections_.begin(); it != connections_.end(); ++it) {
      if (it->phase != phase) continue;
      if (phase == Phase::kReading) Count([](Stats& s) { ++s.evicted; });
      Close(it);
      return true;
    }
  }
  return false;
}

bool MetricsHttpServer::Impl::OnReadable(Connection& c, absl::Time now) {
  char buf[4096];
  if (c.phase == Phase::kLingering) {
    const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
    if (n <= 0) return false;  // the client closed (or reset): done
    c.discarded += static_cast<size_t>(n);
    return c.discarded < kLingerDiscardBytes;
  }
  // Never more than the head may hold: a body after it is not read.
  const size_t room = options_.max_request_bytes + 1 - c.in.size();
  const ssize_t n = ::recv(c.fd, buf, std::min(room, sizeof buf), 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
  if (n <= 0) return false;
  c.in.append(buf, static_cast<size_t>(n));
  if (!RequestHeadComplete(c.in) && c.in.size() <= options_.max_request_bytes) return true;
  Answer(c);
  return OnWritable(c, now);
}

void MetricsHttpServer::Impl::Answer(Connection& c) {
  if (!RequestHeadComplete(c.in)) {
    c.out = HttpAnswer(431, "request head too large\n");
  } else {
    absl::StatusOr<RequestHead> head = ParseRequestHead(c.in);
    if (!head.ok()) {
      c.out = HttpAnswer(400, absl::StrCat("bad request: ", head.status().message(), "\n"));
    } else if (head->method != "GET" && head->method != "HEAD") {
      c.out = HttpAnswer(405, "only GET and HEAD are served\n", "text/plain; charset=utf-8",
                         /*head_only=*/false, "Allow: GET, HEAD\r\n");
    } else if (head->path != "/metrics") {
      c.out = HttpAnswer(404, "not found: metrics are served at /metrics\n",
                         "text/plain; charset=utf-8", head->method == "HEAD");
    } else {
      c.out = HttpAnswer(200, render_(), kExpositionContentType, head->method == "HEAD");
    }
  }
  c.in.clear();
  c.in.shrink_to_fit();
  c.phase = Phase::kWriting;
}

bool MetricsHttpServer::Impl::OnWritable(Connection& c, absl::Time now) {
  while (c.written < c.out.size()) {
    const ssize_t n =
        ::send(c.fd, c.out.data() + c.written, c.out.size() - c.written, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return true;
    if (n <= 0) return false;  // the client hung up
    c.written += static_cast<size_t>(n);
  }
  Count([](Stats& s) { ++s.answered; });
  c.out.clear();
  c.out.shrink_to_fit();
  ::shutdown(c.fd, SHUT_WR);
  c.phase = Phase::kLingering;
  c.deadline = std::min(c.deadline, now + kLinger);
  return true;
}

void MetricsHttpServer::Impl::Close(Connections::iterator it) {
  ::close(it->fd);
  connections_.erase(it);
  Count([](Stats& s) { --s.open; });
}

MetricsHttpServer::MetricsHttpServer(std::function<std::string()> render)
    : MetricsHttpServer(std::move(render), Options()) {}

MetricsHttpServer::MetricsHttpServer(std::function<std::string()> render,
                                     Options options)
    : impl_(std::make_unique<Impl>(std::move(render), options)) {}

MetricsHttpServer::~MetricsHttpServer() = default;

absl::Status MetricsHttpServer::Start(absl::string_view address) {
  return impl_->Start(address);
}

int MetricsHttpServer::port() const { return impl_->port(); }

MetricsHttpServer::Stats MetricsHttpServer::stats() const { return impl_->stats(); }

void MetricsHttpServer::Stop() { impl_->Stop(); }

}  // namespace semaphored::server
