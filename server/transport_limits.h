#ifndef SEMAPHORED_SERVER_TRANSPORT_LIMITS_H_
#define SEMAPHORED_SERVER_TRANSPORT_LIMITS_H_

// The gRPC transport's limits (HTTP/2 streams, connections, keepalive, metadata,
// compression, memory and threads), each set explicitly on the ServerBuilder instead
// of relying on gRPC's defaults, so that one connection cannot exhaust the server.
//
// What these do NOT bound (see the README's "Security" section): the CVEs of
// Debian's gRPC 1.51.1 that need gRPC's own fixes (HPACK/CONTINUATION abuse,
// CVE-2023-33953; rapid reset, CVE-2023-44487) are only made smaller by the stream and
// metadata limits; a front proxy bounds them.

#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace grpc {
class ServerBuilder;
}  // namespace grpc

namespace semaphored::server {

struct TransportLimits {
  // Most concurrent HTTP/2 streams on one connection (SETTINGS_MAX_CONCURRENT_STREAMS);
  // a client's further streams wait until one ends. The client library keeps one
  // stream per session open, so a process with more sessions on one connection than
  // this waits; 2048 leaves room for the load test's 250 sessions per channel and a
  // bench with 1,000 sessions on one channel plus their calls.
  int max_concurrent_streams = 2048;
  // gRPC's resource quota: the memory its transports may use (buffers, streams), in
  // bytes. Past it gRPC shrinks buffers and then closes the largest users'
  // connections. 0: no quota.
  int64_t memory_quota_bytes = int64_t{512} << 20;
  // The most threads gRPC may start for synchronous handlers (server reflection);
  // beyond it such calls get RESOURCE_EXHAUSTED. 0: no limit.
  int max_threads = 64;
  // A connection without any call for this long is closed (GOAWAY; a client
  // reconnects when it next calls). A session's stream is a call, so a connection
  // that carries a session is never idle. InfiniteDuration: never.
  absl::Duration max_connection_idle = absl::Minutes(5);
  // A connection is sent GOAWAY after this long; calls still running may finish
  // during max_connection_age_grace, then they are cancelled. Infinite by default:
  // a session's stream lives as long as its session, and cutting it would interrupt
  // (and make the client resume) every session periodically.
  absl::Duration max_connection_age = absl::InfiniteDuration();
  absl::Duration max_connection_age_grace = absl::InfiniteDuration();
  // Keepalive enforcement: a client's pings closer together than this, while the
  // server sends nothing, are "strikes"; after max_ping_strikes strikes the
  // connection is closed (GOAWAY too_many_pings). Our client library sends no
  // keepalive pings (it keeps sessions alive with messages); common gRPC clients
  // ping every 20 s or more.
  absl::Duration min_ping_interval = absl::Seconds(10);
  int max_ping_strikes = 2;
  // The server pings each connection after this long without activity and closes
  // it when no answer comes within keepalive_timeout: a vanished peer's connection
  // (and its file descriptor and streams) is freed in minutes instead of hours.
  absl::Duration keepalive_time = absl::Minutes(1);
  absl::Duration keepalive_timeout = absl::Seconds(20);
  // A new connection must finish its TLS handshake and send its HTTP/2 settings
  // within this time, or it is closed.
  absl::Duration handshake_timeout = absl::Seconds(10);
  // Most bytes of metadata (headers) per request, as HPACK counts them (each entry
  // costs its name and value plus 32); larger requests get RESOURCE_EXHAUSTED.
  // Our largest legitimate metadata is an admin token of at most 4 KiB.
  int max_metadata_bytes = 8 * 1024;
  // Whether compressed (gzip, deflate) request messages are accepted. Off: such a
  // request gets UNIMPLEMENTED before its message is read (gRPC 1.51.1 inflates a
  // compressed message before checking its size). Answers are never compressed.
  bool allow_compression = false;
};

// INVALID_ARGUMENT, naming the flag, for a value out of range: streams at least 1,
// quota 0 or at least 16 MiB, threads 0 or at least 2, durations positive (and at
// least 1 ms), ping strikes at least 0, metadata at least 1024 bytes.
absl::Status ValidateTransportLimits(const TransportLimits& limits);

// Sets every limit on `builder` (channel arguments, the resource quota, compression).
void ApplyTransportLimits(const TransportLimits& limits, grpc::ServerBuilder& builder);

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_TRANSPORT_LIMITS_H_
