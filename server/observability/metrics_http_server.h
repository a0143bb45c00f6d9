#ifndef SEMAPHORED_SERVER_OBSERVABILITY_METRICS_HTTP_SERVER_H_
#define SEMAPHORED_SERVER_OBSERVABILITY_METRICS_HTTP_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace semaphored::server {

// A listen address split into host and port.
struct HostPort {
  std::string host;
  int port = 0;
};

// Parses "host:port", "[v6addr]:port" or ":port" (all IPv4 interfaces, host
// "0.0.0.0"). Port 0 asks for any free port. INVALID_ARGUMENT, saying what is wrong,
// for anything else.
absl::StatusOr<HostPort> ParseListenAddress(absl::string_view address);

// Serves GET /metrics (the text `render` returns, as Prometheus text format 0.0.4) and
// HEAD /metrics; other paths get 404, other methods 405, a malformed request 400, a
// request head over max_request_bytes 431. HTTP/1.0 and 1.1, one request per
// connection ("Connection: close").
//
// Bounded against hostile clients, on one thread that never blocks on a client:
// - every connection is answered and closed within `request_timeout` of being
//   accepted however slowly it sends (a byte every second does not keep it open);
//   a slow client never delays another one, since all sockets are non-blocking;
// - no request body is ever read: the answer comes as soon as the request head is
//   in (a POST is refused with 405 before its body is read);
// - at most `max_connections` are open; a connection beyond it replaces the oldest
//   one that has not finished sending its request (or has been answered already),
//   so a flood of idle connections cannot keep a scrape out; when every open
//   connection is being answered, the new one is closed at once. There is no queue
//   of requests besides these connections;
// - when the process is out of file descriptors, accepting pauses briefly.
// `render` runs on the server's thread, one scrape at a time.
//
// Thread-safe.
class MetricsHttpServer {
 public:
  struct Options {
    absl::Duration request_timeout = absl::Seconds(5);
    int max_connections = 64;
    size_t max_request_bytes = 8 * 1024;
  };
  // What the server has done, for tests and logs.
  struct Stats {
    int64_t accepted = 0;   // connections accepted
    int64_t answered = 0;   // answers written whole (any status)
    int64_t evicted = 0;    // connections closed to make room for a newer one
    int64_t refused = 0;    // new connections closed at once (every slot answering)
    int64_t timed_out = 0;  // connections closed at request_timeout
    int64_t open = 0;       // connections open now
  };

  // `render` is called once per GET or HEAD of /metrics, from the server's thread;
  // it must be thread-safe with respect to the caller's other threads and outlive
  // the server.
  explicit MetricsHttpServer(std::function<std::string()> render);
  MetricsHttpServer(std::function<std::string()> render, Options options);
  // Stops the server if it is running.
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // Binds `address` (see ParseListenAddress) and starts serving; returns once the
  // socket listens. INVALID_ARGUMENT for a malformed address or options, UNAVAILABLE
  // when it cannot be bound (in use, not local...), FAILED_PRECONDITION when Start()
  // was called before (a server is started at most once, even when that start
  // failed).
  absl::Status Start(absl::string_view address);
  // The bound port (the one chosen when the address asked for port 0); 0 before Start.
  int port() const;
  Stats stats() const;
  // Stops serving: closes the listener and every connection at once, and joins the
  // server's thread. Idempotent.
  void Stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_OBSERVABILITY_METRICS_HTTP_SERVER_H_
