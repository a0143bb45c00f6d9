#include "server/observability/metrics_http_server.h"

#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>
#include <utility>

#include <httplib.h>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/observability/exposition.h"

namespace semaphored::internal {
namespace {

// httplib::Server::stop() does nothing until the listening loop has started (so a
// Stop() right after Start() could be lost) and asserts when called twice. Closing
// the listening socket ourselves works at any time: the loop checks it before and
// after each accept.
class StoppableServer : public httplib::Server {
 public:
  void CloseListener() {
    const socket_t sock = svr_sock_.exchange(INVALID_SOCKET);
    if (sock != INVALID_SOCKET) {
      ::shutdown(sock, SHUT_RDWR);
      ::close(sock);
    }
  }
};

// Splits a duration into the (seconds, microseconds) pair httplib takes.
std::pair<time_t, time_t> SecondsAndMicros(absl::Duration d) {
  const int64_t us = std::max<int64_t>(1, absl::ToInt64Microseconds(d));
  return {static_cast<time_t>(us / 1'000'000), static_cast<time_t>(us % 1'000'000)};
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
  ~Impl() { Stop(); }

  absl::Status Start(absl::string_view address) ABSL_LOCKS_EXCLUDED(mu_);
  int port() const { return port_.load(); }
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Configure();

  const std::function<std::string()> render_;
  const Options options_;
  StoppableServer server_;
  std::atomic<int> port_{0};

  absl::Mutex mu_;
  // State below is protected by mu_.
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_ ABSL_GUARDED_BY(mu_);
};

void MetricsHttpServer::Impl::Configure() {
  const auto [sec, usec] = SecondsAndMicros(options_.io_timeout);
  server_.set_read_timeout(sec, usec);
  server_.set_write_timeout(sec, usec);
  // A connection that sends nothing is dropped after this many whole seconds.
  server_.set_keep_alive_timeout(std::max<time_t>(1, sec + (usec > 0 ? 1 : 0)));
  // One request per connection: nothing idles between scrapes, so Stop() is quick.
  server_.set_keep_alive_max_count(1);
  server_.set_payload_max_length(64 * 1024);
  // httplib's default sets SO_REUSEPORT, which would let a second server bind the
  // same port and silently share the scrapes: SO_REUSEADDR only (restart quickly).
  server_.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  const size_t threads = static_cast<size_t>(std::max(1, options_.threads));
  server_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(render_(), kExpositionContentType);
  });
  server_.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.status == 404) {
      res.set_content("not found: metrics are served at /metrics\n", "text/plain");
    }
  });
}

absl::Status MetricsHttpServer::Impl::Start(absl::string_view address) {
  absl::StatusOr<HostPort> where = ParseListenAddress(address);
  if (!where.ok()) return where.status();
  absl::MutexLock lock(&mu_);
  if (started_) {
    return absl::FailedPreconditionError(
        "the metrics server can be started only once (Start was called before)");
  }
  started_ = true;
  Configure();
  errno = 0;
  int port = where->port;
  if (port == 0) {
    port = server_.bind_to_any_port(where->host);
  } else if (!server_.bind_to_port(where->host, port)) {
    port = -1;
  }
  if (port <= 0) {
    const int error = errno;
    return absl::UnavailableError(absl::StrCat(
        "cannot listen for metrics on ", address,
        error != 0 ? absl::StrCat(": ", std::strerror(error)) : std::string(),
        " (is the port in use, or the host not a local address?)"));
  }
  port_.store(port);
  thread_ = std::thread([this] {
    // Threads started from here (httplib's workers) inherit this mask: a write to a
    // scraper that hung up then fails with EPIPE instead of killing the process.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    server_.listen_after_bind();
  });
  return absl::OkStatus();
}

void MetricsHttpServer::Impl::Stop() {
  std::thread thread;
  {
    absl::MutexLock lock(&mu_);
    thread = std::move(thread_);
  }
  if (!thread.joinable()) return;
  server_.CloseListener();
  thread.join();
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

void MetricsHttpServer::Stop() { impl_->Stop(); }

}  // namespace semaphored::internal
