#ifndef SEMAPHORED_SERVER_OBSERVABILITY_METRICS_HTTP_SERVER_H_
#define SEMAPHORED_SERVER_OBSERVABILITY_METRICS_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace semaphored::internal {

// A listen address split into host and port.
struct HostPort {
  std::string host;
  int port = 0;
};

// Parses "host:port", "[v6addr]:port" or ":port" (all IPv4 interfaces, host
// "0.0.0.0"). Port 0 asks for any free port. INVALID_ARGUMENT, saying what is wrong,
// for anything else.
absl::StatusOr<HostPort> ParseListenAddress(absl::string_view address);

// Serves GET /metrics (the text `render` returns, as Prometheus text format 0.0.4)
// on its own threads; every other path gets 404. Built on Debian's cpp-httplib.
//
// One request per connection. Stop() is bounded: it closes the listener at once, then
// waits for the connections being served: a client that sends nothing is dropped
// after `io_timeout` (rounded up to whole seconds), and every read or write of a
// slow one is limited by `io_timeout`.
//
// SIGPIPE from a scraper that hangs up mid-answer is blocked on the server's threads
// only (the process's disposition is left alone).
//
// Thread-safe.
class MetricsHttpServer {
 public:
  struct Options {
    absl::Duration io_timeout = absl::Seconds(2);
    int threads = 2;  // concurrent scrapes served
  };

  // `render` is called once per scrape, from the server's threads, concurrently if
  // scrapes overlap; it must be thread-safe and must outlive the server.
  explicit MetricsHttpServer(std::function<std::string()> render);
  MetricsHttpServer(std::function<std::string()> render, Options options);
  // Stops the server if it is running.
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // Binds `address` (see ParseListenAddress) and starts serving; returns once the
  // socket listens. INVALID_ARGUMENT for a malformed address, UNAVAILABLE when it
  // cannot be bound (in use, not local...), FAILED_PRECONDITION when Start() was
  // called before (a server is started at most once, even when that start failed).
  absl::Status Start(absl::string_view address);
  // The bound port (the one chosen when the address asked for port 0); 0 before Start.
  int port() const;
  // Stops serving and joins the server's threads. Idempotent.
  void Stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace semaphored::internal

#endif  // SEMAPHORED_SERVER_OBSERVABILITY_METRICS_HTTP_SERVER_H_
