#ifndef SEMAPHORED_SERVER_OBSERVABILITY_LIBRARY_LOGS_H_
#define SEMAPHORED_SERVER_OBSERVABILITY_LIBRARY_LOGS_H_

// Routes the log lines that libprotobuf and gRPC's core write by themselves (both
// print plain text on stderr by default) through a Logger, so that every line on
// stderr is structured, in --log_format, and no client can put an unstructured line
// in the log: a request with invalid UTF-8 in a string field makes libprotobuf log
// an ERROR for every such request.
//
// Each library line becomes one Logger line:
//   event "protobuf_log" or "grpc_log"; level from the library's severity; fields
//   "message" (truncated to 512 bytes), "file" and "line" (where it was logged).
// Lines are rate-limited per library: at most kLibraryLogBurst lines per
// kLibraryLogWindow; the lines dropped are counted in the next line written
// ("suppressed": the count).
//
// gRPC's own verbosity stays ERROR (gRPC's default), unless GRPC_VERBOSITY is set in
// the environment, which then decides as gRPC documents.

#include "absl/time/time.h"
#include "server/observability/logger.h"

namespace semaphored::server {

inline constexpr int kLibraryLogBurst = 20;
inline constexpr absl::Duration kLibraryLogWindow = absl::Seconds(10);

// Installs the routing (process-wide: both libraries keep one global handler) to
// `logger`, or, with nullptr, drops the libraries' lines. `logger` is not owned and
// must stay valid until another call replaces it (main() leaks its logger: gRPC's
// threads may log until the process ends). Thread-safe.
void RouteLibraryLogs(const Logger* logger);

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_OBSERVABILITY_LIBRARY_LOGS_H_
