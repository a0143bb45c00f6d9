// semaphored: the semaphore server.
//
// Every flag can also be given as an environment variable SEMAPHORED_<FLAG NAME IN
// UPPER CASE> (for Docker), e.g. SEMAPHORED_LISTEN=0.0.0.0:50051; a flag on the
// command line wins over the environment.

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/synchronization/mutex.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/observability/library_logs.h"
#include "common/durable_file.h"
#include "server/observability/logger.h"
#include "server/observability/metrics_http_server.h"
#include "server/observability/server_events.h"
#include "server/observability/trace_file_writer.h"
#include "server/leadership.h"
#include "server/server.h"
#include "server/server_config.h"

namespace {
const semaphored::engine::CoreOptions kDefaults;
const semaphored::server::TransportLimits kTransport;
const semaphored::server::ServerOptions kServerDefaults;
}  // namespace

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "Address to listen on, HOST:PORT (0.0.0.0:PORT for every interface, port 0 "
          "picks a free port).");
ABSL_FLAG(absl::Duration, default_ttl, kDefaults.default_ttl,
          "Session TTL when the client asks for none (e.g. 10s).");
ABSL_FLAG(absl::Duration, min_ttl, kDefaults.min_ttl, "Smallest session TTL accepted.");
ABSL_FLAG(absl::Duration, max_ttl, kDefaults.max_ttl, "Largest session TTL accepted.");
ABSL_FLAG(std::string, data_dir, "",
          "Directory where the state is kept (SQLite, created 0700 when missing): every "
          "session, hold and queued wait is committed before it is answered, and a "
          "restart on the same directory loads it back. Empty: in memory, lost on "
          "restart. One server per directory (a second is refused).");
ABSL_FLAG(std::string, etcd_endpoints, "",
          "Keep the state in etcd instead (HOST:PORT of each member, comma-separated; "
          "excludes --data_dir): several servers share it, one leads and serves, the "
          "others answer UNAVAILABLE naming the leader and take over when it goes.");
ABSL_FLAG(std::string, etcd_prefix, "/semaphored/",
          "With --etcd_endpoints: the prefix of every key (the leader key and state/).");
ABSL_FLAG(std::string, advertise, "",
          "With --etcd_endpoints: this server's client address, HOST:PORT, which the "
          "other servers send clients to. Empty: the --listen address (then it must "
          "not be 0.0.0.0 or port 0).");
ABSL_FLAG(std::string, etcd_tls_ca, "", "With --etcd_endpoints: PEM CA of etcd's TLS.");
ABSL_FLAG(std::string, etcd_tls_cert, "",
          "With --etcd_endpoints: PEM client certificate for etcd (with --etcd_tls_key).");
ABSL_FLAG(std::string, etcd_tls_key, "", "With --etcd_endpoints: PEM client key for etcd.");
ABSL_FLAG(absl::Duration, leader_lease_ttl, semaphored::server::EtcdServerOptions().lease_ttl,
          "With --etcd_endpoints: the leader's etcd lease (1s-5m): how long a dead leader "
          "keeps the role before another server takes over.");
ABSL_FLAG(std::string, state_file, "semaphored.state",
          "Without --data_dir: file recording fencing tokens so that they keep "
          "increasing across restarts (relative to the working directory). Empty: "
          "tokens are kept in memory and start from the wall clock in microseconds. "
          "Not used with --data_dir (the store keeps the tokens' high-water).");
ABSL_FLAG(int64_t, max_sessions, kDefaults.max_sessions,
          "Most live sessions; CreateSession beyond it gets RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, max_held_per_session, kDefaults.max_held_per_session,
          "Most semaphores one session may hold at once; setting another gets "
          "RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, max_waiters_per_semaphore, kDefaults.max_waiters_per_semaphore,
          "Most queued requests (set and wait-for-clear) per semaphore; one more "
          "waiting request gets RESOURCE_EXHAUSTED (a try without waiting is still "
          "answered).");
ABSL_FLAG(int64_t, max_semaphores, kDefaults.max_semaphores,
          "Most semaphores existing at once (set or waited on); setting a new name beyond "
          "it gets RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, max_holds, kDefaults.max_holds,
          "Most holds (session and semaphore pairs) in total; a set that would grant one "
          "more gets RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, max_waiters, kDefaults.max_waiters,
          "Most queued requests (set and wait-for-clear) in total; one more waiting "
          "request gets RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, max_waiters_per_session, kDefaults.max_waiters_per_session,
          "Most queued requests one session may have at once; one more waiting request "
          "gets RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, max_unacked_outcomes_per_session,
          kDefaults.max_unacked_outcomes_per_session,
          "Most answers of numbered session-stream commands (sets, clears, waits) kept "
          "per session until the client acknowledges them, so that a command re-sent "
          "after a broken stream or a restart gets its first answer; past it the oldest "
          "is dropped (its re-send is then FAILED_PRECONDITION). 0 keeps none.");
ABSL_FLAG(int64_t, max_sessions_per_peer, kDefaults.max_sessions_per_peer,
          "Most live sessions per client address; CreateSession beyond it gets "
          "RESOURCE_EXHAUSTED. 0: no limit.");
ABSL_FLAG(double, session_rate_per_peer, kDefaults.session_rate_per_peer,
          "Sessions one client address may create per second, on average (a token bucket "
          "with --session_burst_per_peer); faster CreateSession calls get "
          "RESOURCE_EXHAUSTED with the time to wait. 0: no limit.");
ABSL_FLAG(int64_t, session_burst_per_peer, kDefaults.session_burst_per_peer,
          "Sessions one client address may create at once before "
          "--session_rate_per_peer applies.");
ABSL_FLAG(int32_t, max_message_bytes, 64 * 1024,
          "Largest request message accepted, in bytes (at least 1024); larger ones "
          "get RESOURCE_EXHAUSTED.");
ABSL_FLAG(std::string, port_file, "",
          "If set, the bound port number is written to this file once the server "
          "listens (for scripts using --listen=HOST:0).");
ABSL_FLAG(std::string, admin_token, "",
          "Bearer token required by the admin service (metadata \"authorization: Bearer "
          "TOKEN\") over TCP: at least 128 bits (32 hex digits, or 22 characters of "
          "another alphabet). Prefer SEMAPHORED_ADMIN_TOKEN or --admin_token_file: a "
          "flag is visible in the process list. Without any token the admin service "
          "answers only on the admin socket (--admin_socket).");
ABSL_FLAG(std::string, admin_token_file, "",
          "File holding the admin token (trailing newline ignored); excludes "
          "--admin_token. Refused when its group or others may read or write it "
          "(chmod 600).");
ABSL_FLAG(std::string, admin_socket, semaphored::server::kAdminSocketAuto,
          "Unix socket serving every service to root and this server's own user (peer "
          "uid checked with SO_PEERCRED), the admin service without a token; semctl "
          "on this machine uses it by default. \"auto\": "
          "$XDG_RUNTIME_DIR/semaphored/PORT.sock, else /run/semaphored/PORT.sock for "
          "root, else /tmp/semaphored-UID/PORT.sock (when that place is unusable: a "
          "warning and no socket). A path: that socket (mode 0600; its directory must "
          "not be writable by group or others). Empty: no admin socket.");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM file with the server's TLS certificate (chain). With --tls_key, the "
          "listener speaks TLS only; without both, plaintext.");
ABSL_FLAG(std::string, tls_key, "", "PEM file with the TLS certificate's private key.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM file with the CA(s) that sign client certificates: enables mutual TLS "
          "(clients must present a certificate from it). Needs --tls_cert/--tls_key.");
ABSL_FLAG(std::string, metrics_address, "",
          "HOST:PORT serving Prometheus metrics at http://HOST:PORT/metrics (e.g. "
          "127.0.0.1:9090; port 0 picks a free one). Empty: no metrics endpoint.");
ABSL_FLAG(semaphored::server::LogFormat, log_format,
          semaphored::server::LogFormat::kText,
          "Log lines on stderr: text (human-readable key=value) or json (one object "
          "per line).");
ABSL_FLAG(std::string, trace_file, "",
          "For testing: write every queue/grant/release/session-end record of the core "
          "to this file, one line each in the core's order (see TraceFileWriter in "
          "server/observability/trace_file_writer.h). Empty: no trace.");
ABSL_FLAG(int32_t, max_concurrent_streams, kTransport.max_concurrent_streams,
          "Most concurrent gRPC calls (HTTP/2 streams) on one client connection; more "
          "wait for one to end. Each client-library session keeps one open.");
ABSL_FLAG(int64_t, grpc_memory_quota_bytes, kTransport.memory_quota_bytes,
          "Memory gRPC's transports may use, in bytes (0: no quota); past it gRPC "
          "shrinks buffers, then closes the biggest users' connections.");
ABSL_FLAG(int32_t, grpc_max_threads, kTransport.max_threads,
          "Most threads gRPC may start for synchronous calls (server reflection); 0: no "
          "limit.");
ABSL_FLAG(absl::Duration, max_connection_idle, kTransport.max_connection_idle,
          "A client connection with no call for this long is closed (clients reconnect "
          "when they next call); inf: never.");
ABSL_FLAG(absl::Duration, max_connection_age, kTransport.max_connection_age,
          "Connections are asked to go away (GOAWAY) after this long; inf (default): "
          "never. A finite age also ends session streams after the grace, and their "
          "sessions resume on a new connection.");
ABSL_FLAG(absl::Duration, max_connection_age_grace, kTransport.max_connection_age_grace,
          "After --max_connection_age, how long running calls may go on before they are "
          "cancelled; inf: until they end.");
ABSL_FLAG(absl::Duration, min_ping_interval, kTransport.min_ping_interval,
          "Keepalive enforcement: client pings closer together than this (while the "
          "server sends nothing) count as strikes.");
ABSL_FLAG(int32_t, max_ping_strikes, kTransport.max_ping_strikes,
          "Ping strikes after which a connection is closed (GOAWAY too_many_pings); 0: "
          "no limit.");
ABSL_FLAG(absl::Duration, keepalive_time, kTransport.keepalive_time,
          "The server pings a connection quiet for this long, to find vanished "
          "clients.");
ABSL_FLAG(absl::Duration, keepalive_timeout, kTransport.keepalive_timeout,
          "A connection whose ping is not answered within this is closed.");
ABSL_FLAG(absl::Duration, handshake_timeout, kTransport.handshake_timeout,
          "A new connection must finish its TLS handshake and send its HTTP/2 settings "
          "within this, or it is closed.");
ABSL_FLAG(int32_t, max_metadata_bytes, kTransport.max_metadata_bytes,
          "Largest request metadata (headers) accepted, in bytes as HPACK counts them "
          "(at least 1024); larger requests get RESOURCE_EXHAUSTED.");
ABSL_FLAG(bool, allow_compression, kTransport.allow_compression,
          "Accept gzip/deflate-compressed request messages. Off: they get UNIMPLEMENTED "
          "before being read (gRPC 1.51 inflates a message before checking its size).");
ABSL_FLAG(absl::Duration, listener_check_interval, kServerDefaults.listener_check_interval,
          "How often the server checks that its gRPC listener still accepts connections "
          "(gRPC 1.51.1 can lose it when file descriptors run out, CVE-2023-4785); inf: "
          "never.");
ABSL_FLAG(int32_t, listener_check_failures, kServerDefaults.listener_check_failures,
          "Failed listener checks in a row after which the server logs listener_dead, "
          "drains and exits with status 3 (for a supervisor or standby to take over).");

ABSL_FLAG(int32_t, max_listed_holders, kDefaults.max_listed_holders,
          "Holders listed in a test, not-acquired or wait-for-clear answer (the first by "
          "grant order; the answer's holder_count gives the total, and the admin "
          "ListSemaphores lists all). At least 1.");
ABSL_FLAG(int64_t, stream_answer_budget_bytes,
          semaphored::server::ServiceLimits().stream_answer_budget_bytes,
          "Bytes of answers a StreamSession stream may have queued but not yet sent; past "
          "it the stream runs no further command and reads no further message until the "
          "client reads (backpressure). At least 65536.");
ABSL_FLAG(absl::Duration, stream_first_message_timeout,
          semaphored::server::ServiceLimits().stream_first_message_timeout,
          "How long a new StreamSession stream may take to send its first message (with "
          "the session secret) before it is ended with DEADLINE_EXCEEDED.");

namespace {

using semaphored::server::Server;
using semaphored::server::ServerOptions;

constexpr const char* kFlagNames[] = {"listen",
                                      "default_ttl",
                                      "min_ttl",
                                      "max_ttl",
                                      "data_dir",
                                      "etcd_endpoints",
                                      "etcd_prefix",
                                      "advertise",
                                      "etcd_tls_ca",
                                      "etcd_tls_cert",
                                      "etcd_tls_key",
                                      "leader_lease_ttl",
                                      "state_file",
                                      "max_sessions",
                                      "max_held_per_session",
                                      "max_waiters_per_semaphore",
                                      "max_semaphores",
                                      "max_holds",
                                      "max_waiters",
                                      "max_waiters_per_session",
                                      "max_unacked_outcomes_per_session",
                                      "max_sessions_per_peer",
                                      "session_rate_per_peer",
                                      "session_burst_per_peer",
                                      "max_message_bytes",
                                      "port_file",
                                      "admin_token",
                                      "admin_token_file",
                                      "admin_socket",
                                      "tls_cert",
                                      "tls_key",
                                      "tls_client_ca",
                                      "metrics_address",
                                      "log_format",
                                      "trace_file",
                                      "max_listed_holders",
                                      "stream_answer_budget_bytes",
                                      "stream_first_message_timeout",
                                      "max_concurrent_streams",
                                      "grpc_memory_quota_bytes",
                                      "grpc_max_threads",
                                      "max_connection_idle",
                                      "max_connection_age",
                                      "max_connection_age_grace",
                                      "min_ping_interval",
                                      "max_ping_strikes",
                                      "keepalive_time",
                                      "keepalive_timeout",
                                      "handshake_timeout",
                                      "max_metadata_bytes",
                                      "allow_compression",
                                      "listener_check_interval",
                                      "listener_check_failures"};

// Sets flags from SEMAPHORED_<NAME> environment variables; the command line, parsed
// afterwards, overrides them. Returns the first bad value.
absl::Status ApplyEnvironment() {
  for (const char* name : kFlagNames) {
    const std::string var = absl::StrCat("SEMAPHORED_", absl::AsciiStrToUpper(name));
    const char* value = std::getenv(var.c_str());
    if (value == nullptr) continue;
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    std::string error;
    if (flag == nullptr || !flag->ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(
          absl::StrCat("environment variable ", var, "=\"", value, "\": ", error));
    }
  }
  return absl::OkStatus();
}

// The admin token from --admin_token or --admin_token_file (not both).
absl::StatusOr<std::string> AdminTokenFromFlags() {
  const std::string token = absl::GetFlag(FLAGS_admin_token);
  const std::string file = absl::GetFlag(FLAGS_admin_token_file);
  if (!token.empty() && !file.empty()) {
    return absl::InvalidArgumentError(
        "give the admin token once: --admin_token (SEMAPHORED_ADMIN_TOKEN) or "
        "--admin_token_file (SEMAPHORED_ADMIN_TOKEN_FILE), not both");
  }
  if (!file.empty()) return semaphored::server::ReadAdminTokenFile(file);
  if (absl::Status s = semaphored::server::ValidateAdminToken(token, "--admin_token");
      !s.ok()) {
    return s;
  }
  return token;
}

absl::StatusOr<ServerOptions> OptionsFromFlags() {
  ServerOptions options;
  options.listen_address = absl::GetFlag(FLAGS_listen);
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.state_file = absl::GetFlag(FLAGS_state_file);
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.metrics_address = absl::GetFlag(FLAGS_metrics_address);
  options.log_format = absl::GetFlag(FLAGS_log_format);
  options.service_limits.stream_answer_budget_bytes =
      absl::GetFlag(FLAGS_stream_answer_budget_bytes);
  options.service_limits.stream_first_message_timeout =
      absl::GetFlag(FLAGS_stream_first_message_timeout);
  if (absl::Status s = semaphored::server::CheckServiceLimits(options.service_limits);
      !s.ok()) {
    return s;
  }
  semaphored::server::TransportLimits& transport = options.transport;
  transport.max_concurrent_streams = absl::GetFlag(FLAGS_max_concurrent_streams);
  transport.memory_quota_bytes = absl::GetFlag(FLAGS_grpc_memory_quota_bytes);
  transport.max_threads = absl::GetFlag(FLAGS_grpc_max_threads);
  transport.max_connection_idle = absl::GetFlag(FLAGS_max_connection_idle);
  transport.max_connection_age = absl::GetFlag(FLAGS_max_connection_age);
  transport.max_connection_age_grace = absl::GetFlag(FLAGS_max_connection_age_grace);
  transport.min_ping_interval = absl::GetFlag(FLAGS_min_ping_interval);
  transport.max_ping_strikes = absl::GetFlag(FLAGS_max_ping_strikes);
  transport.keepalive_time = absl::GetFlag(FLAGS_keepalive_time);
  transport.keepalive_timeout = absl::GetFlag(FLAGS_keepalive_timeout);
  transport.handshake_timeout = absl::GetFlag(FLAGS_handshake_timeout);
  transport.max_metadata_bytes = absl::GetFlag(FLAGS_max_metadata_bytes);
  transport.allow_compression = absl::GetFlag(FLAGS_allow_compression);
  if (absl::Status s = semaphored::server::ValidateTransportLimits(transport); !s.ok()) {
    return s;
  }
  options.listener_check_interval = absl::GetFlag(FLAGS_listener_check_interval);
  options.listener_check_failures = absl::GetFlag(FLAGS_listener_check_failures);
  absl::StatusOr<std::string> token = AdminTokenFromFlags();
  if (!token.ok()) return token.status();
  options.admin_token = *std::move(token);
  options.admin_socket = absl::GetFlag(FLAGS_admin_socket);
  absl::StatusOr<semaphored::server::TlsOptions> tls = semaphored::server::LoadTlsFiles(
      absl::GetFlag(FLAGS_tls_cert), absl::GetFlag(FLAGS_tls_key),
      absl::GetFlag(FLAGS_tls_client_ca));
  if (!tls.ok()) return tls.status();
  options.tls = *std::move(tls);
  auto& core = options.core;
  core.default_ttl = absl::GetFlag(FLAGS_default_ttl);
  core.min_ttl = absl::GetFlag(FLAGS_min_ttl);
  core.max_ttl = absl::GetFlag(FLAGS_max_ttl);
  core.max_sessions = absl::GetFlag(FLAGS_max_sessions);
  core.max_held_per_session = absl::GetFlag(FLAGS_max_held_per_session);
  core.max_waiters_per_semaphore = absl::GetFlag(FLAGS_max_waiters_per_semaphore);
  core.max_semaphores = absl::GetFlag(FLAGS_max_semaphores);
  core.max_holds = absl::GetFlag(FLAGS_max_holds);
  core.max_waiters = absl::GetFlag(FLAGS_max_waiters);
  core.max_waiters_per_session = absl::GetFlag(FLAGS_max_waiters_per_session);
  core.max_unacked_outcomes_per_session =
      absl::GetFlag(FLAGS_max_unacked_outcomes_per_session);
  if (core.max_unacked_outcomes_per_session < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_unacked_outcomes_per_session must be 0 or more; got ",
                     core.max_unacked_outcomes_per_session));
  }
  core.max_sessions_per_peer = absl::GetFlag(FLAGS_max_sessions_per_peer);
  core.session_rate_per_peer = absl::GetFlag(FLAGS_session_rate_per_peer);
  core.session_burst_per_peer = absl::GetFlag(FLAGS_session_burst_per_peer);
  core.max_listed_holders = absl::GetFlag(FLAGS_max_listed_holders);
  if (core.max_listed_holders < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_listed_holders must be at least 1; got ", core.max_listed_holders));
  }
  if (core.min_ttl <= absl::ZeroDuration() || core.min_ttl > core.default_ttl ||
      core.default_ttl > core.max_ttl) {
    return absl::InvalidArgumentError(absl::StrCat(
        "session TTLs must satisfy 0 < --min_ttl <= --default_ttl <= --max_ttl; got ",
        absl::FormatDuration(core.min_ttl), ", ", absl::FormatDuration(core.default_ttl),
        ", ", absl::FormatDuration(core.max_ttl)));
  }
  if (core.max_sessions < 1 || core.max_held_per_session < 1 ||
      core.max_waiters_per_semaphore < 1) {
    return absl::InvalidArgumentError(
        "--max_sessions, --max_held_per_session and --max_waiters_per_semaphore must "
        "be at least 1");
  }
  if (core.max_semaphores < 1 || core.max_holds < 1 || core.max_waiters < 1 ||
      core.max_waiters_per_session < 1 || core.session_burst_per_peer < 1) {
    return absl::InvalidArgumentError(
        "--max_semaphores, --max_holds, --max_waiters, --max_waiters_per_session and "
        "--session_burst_per_peer must be at least 1");
  }
  if (core.max_sessions_per_peer < 0 || !(core.session_rate_per_peer >= 0) ||
      core.session_rate_per_peer > 1e9) {
    return absl::InvalidArgumentError(
        "--max_sessions_per_peer and --session_rate_per_peer must be 0 (no limit) or "
        "positive (the rate at most 1e9 per second)");
  }
  return options;
}

// Writes the port to `path` as WriteFileDurably does (a reader never sees a partial
// number; a symbolic link planted at `path` is refused, never written through).
absl::Status WritePortFile(const std::string& path, int port) {
  return semaphored::internal::WriteFileDurably(path, absl::StrCat(port, "\n"),
                                                "--port_file");
}

// The open-file limit before and after RaiseFileLimit.
struct FileLimit {
  rlim_t before = 0;
  rlim_t after = 0;
  rlim_t hard = 0;
};

// Raises the soft RLIMIT_NOFILE to the hard limit: gRPC 1.51.1 loses its listener for
// good when accept() runs out of descriptors (CVE-2023-4785), so the server takes
// every descriptor it is allowed. An unlimited hard limit is capped at the kernel's
// per-process maximum (fs.nr_open).
FileLimit RaiseFileLimit() {
  FileLimit result;
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return result;
  result.before = result.after = limit.rlim_cur;
  result.hard = limit.rlim_max;
  rlim_t target = limit.rlim_max;
  if (target == RLIM_INFINITY) {
    target = 1 << 20;  // the usual fs.nr_open
    std::ifstream nr_open("/proc/sys/fs/nr_open");
    unsigned long long value = 0;
    if (nr_open >> value && value > 0) target = static_cast<rlim_t>(value);
  }
  if (target > limit.rlim_cur) {
    limit.rlim_cur = target;
    if (::setrlimit(RLIMIT_NOFILE, &limit) == 0) result.after = target;
  }
  return result;
}

// The process exits with this status when the listener check found the gRPC listener
// dead (see --listener_check_interval).
constexpr int kListenerDeadExit = 3;
// ... and with this one when a commit to the store failed (memory ahead of the disk:
// a restart loads what the store kept).
constexpr int kStoreFailedExit = 4;
// How long the drain after a dead listener may take before the process exits anyway.
constexpr absl::Duration kListenerDeadExitDeadline = absl::Seconds(15);

// The startup lines: "semaphored: listening on HOST:PORT" first in text format (scripts
// wait for it), then the structured server_start line. On a wildcard address the line
// goes on with where to connect on this machine: "... on 0.0.0.0:PORT (all
// addresses; locally 127.0.0.1:PORT)".
void LogStarted(const Server& server, bool tls, bool mtls, bool admin_token) {
  const semaphored::server::Logger& logger = server.logger();
  if (logger.format() == semaphored::server::LogFormat::kText) {
    const std::string listen = absl::GetFlag(FLAGS_listen);
    const std::string bound =
        absl::StrCat(listen.substr(0, listen.rfind(':')), ":", server.port());
    if (bound == server.address()) {
      std::fprintf(stderr, "semaphored: listening on %s\n", bound.c_str());
    } else {
      std::fprintf(stderr, "semaphored: listening on %s (all addresses; locally %s)\n",
                   bound.c_str(), server.address().c_str());
    }
  }
  std::string metrics = "off";
  if (server.metrics_port() != 0) {
    absl::StatusOr<semaphored::server::HostPort> host =
        semaphored::server::ParseListenAddress(absl::GetFlag(FLAGS_metrics_address));
    metrics = absl::StrCat("http://", host.ok() ? host->host : "?", ":",
                           server.metrics_port(), "/metrics");
  }
  logger.Log(semaphored::server::LogLevel::kInfo, "server_start",
             {{"address", server.address()},
              {"tls", mtls ? "mutual" : (tls ? "on" : "off")},
              {"admin", admin_token ? "token" : "socket_only"},
              {"admin_socket",
               server.admin_socket_path().empty() ? "off" : server.admin_socket_path()},
              {"metrics", metrics},
              {"store", server.store_description()}});
  semaphored::server::LogStoreLoaded(logger, server.store_description(), server.loaded());
}

}  // namespace

int main(int argc, char** argv) {
  absl::FlagsUsageConfig usage;
  // --help lists the flags defined in this file (absl's default looks for files named
  // after the program).
  usage.contains_help_flags = [](absl::string_view path) {
    return absl::EndsWith(path, "server/main.cc");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  absl::SetProgramUsageMessage(
      "The semaphored server: global semaphores owned by client sessions, over gRPC.\n"
      "Usage: semaphored [--listen=HOST:PORT] [--state_file=PATH] ...\n"
      "Every flag may also come from the environment as SEMAPHORED_<FLAG>, e.g.\n"
      "SEMAPHORED_LISTEN=0.0.0.0:50051 or SEMAPHORED_ADMIN_TOKEN=...; the command\n"
      "line wins. Logs go to stderr.\n"
      "SIGINT/SIGTERM and the admin Drain RPC drain the server (health turns\n"
      "NOT_SERVING, waiters get UNAVAILABLE, holders are told) and exit 0.\n"
      "Exit codes: 0 after a drain, 1 when the server cannot start, 2 for bad flags,\n"
      "3 when the gRPC listener stopped accepting connections (listener_dead),\n"
      "4 when a commit to the --data_dir store failed (store_failed), 5 when a leader\n"
      "on etcd lost its lease (start it again: it rejoins as a standby).");
  if (absl::Status env = ApplyEnvironment(); !env.ok()) {
    std::fprintf(stderr, "semaphored: %s\n", std::string(env.message()).c_str());
    return 2;
  }
  absl::ParseCommandLine(argc, argv);
  // Debian's Abseil is built without NDEBUG, so by default every absl::Mutex
  // operation (ours and gRPC's) also maintains a global lock-order graph for deadlock
  // detection -- a debugging aid that costs a large share of the server's CPU. The
  // test suite keeps it on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::StatusOr<ServerOptions> options = OptionsFromFlags();
  if (!options.ok()) {
    std::fprintf(stderr, "semaphored: %s\n",
                 std::string(options.status().message()).c_str());
    return 2;
  }
  // Before anything opens a descriptor; logged once the logger exists.
  const FileLimit file_limit = RaiseFileLimit();
  // libprotobuf and gRPC log through a logger of their own (never destroyed: gRPC's
  // threads may log until the process ends), in the server's format, on stderr.
  {
    semaphored::server::LoggerOptions library_log;
    library_log.format = options->log_format;
    semaphored::server::RouteLibraryLogs(new semaphored::server::Logger(library_log));
  }
  const bool tls = options->tls.enabled();
  const bool mtls = !options->tls.client_ca_pem.empty();
  const bool admin_token = !options->admin_token.empty();

  // Block the shutdown signals in every thread (gRPC's inherit the mask); one thread
  // takes them with sigwait, so that no work happens in a signal handler.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // The trace (if asked for) is installed before the core exists and removed only
  // after the server has stopped, so that it sees every event.
  std::unique_ptr<semaphored::server::TraceFileWriter> trace;
  if (const std::string path = absl::GetFlag(FLAGS_trace_file); !path.empty()) {
    absl::StatusOr<std::unique_ptr<semaphored::server::TraceFileWriter>> opened =
        semaphored::server::TraceFileWriter::Open(path);
    if (!opened.ok()) {
      std::fprintf(stderr, "semaphored: --trace_file: %s\n",
                   std::string(opened.status().message()).c_str());
      return 1;
    }
    trace = *std::move(opened);
    semaphored::engine::SetCoreTracer(trace.get());
  }
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  // On etcd: campaign first, serving a standby meanwhile (see server/leadership.h).
  std::unique_ptr<semaphored::store::EtcdLeader> leadership;
  if (const std::string endpoints = absl::GetFlag(FLAGS_etcd_endpoints); !endpoints.empty()) {
    semaphored::server::EtcdServerOptions etcd;
    etcd.endpoints = absl::StrSplit(endpoints, ',', absl::SkipWhitespace());
    etcd.prefix = absl::GetFlag(FLAGS_etcd_prefix);
    etcd.advertise = absl::GetFlag(FLAGS_advertise);
    etcd.tls_ca = absl::GetFlag(FLAGS_etcd_tls_ca);
    etcd.tls_cert = absl::GetFlag(FLAGS_etcd_tls_cert);
    etcd.tls_key = absl::GetFlag(FLAGS_etcd_tls_key);
    etcd.lease_ttl = absl::GetFlag(FLAGS_leader_lease_ttl);
    semaphored::server::LoggerOptions log_options;
    log_options.format = options->log_format;
    const semaphored::server::Logger standby_logger(log_options);
    absl::StatusOr<std::unique_ptr<semaphored::store::EtcdLeader>> led =
        semaphored::server::LeadOrStandBy(etcd, &*options, signals, standby_logger,
                                          [&](int port) {
                                            return port_file.empty()
                                                       ? absl::OkStatus()
                                                       : WritePortFile(port_file, port);
                                          });
    if (!led.ok()) {
      std::fprintf(stderr, "semaphored: %s\n", std::string(led.status().message()).c_str());
      return led.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
    }
    if (*led == nullptr) return 0;  // stopped by a signal while a standby
    leadership = *std::move(led);
  }
  absl::StatusOr<std::unique_ptr<Server>> started = Server::Start(*std::move(options));
  if (!started.ok()) {
    std::fprintf(stderr, "semaphored: %s\n",
                 std::string(started.status().message()).c_str());
    return 1;
  }
  Server& server = **started;
  if (!port_file.empty()) {
    if (absl::Status s = WritePortFile(port_file, server.port()); !s.ok()) {
      std::fprintf(stderr, "semaphored: %s\n", std::string(s.message()).c_str());
      return 1;
    }
  }
  LogStarted(server, tls, mtls, admin_token);
  server.logger().Log(
      file_limit.after < 4096 ? semaphored::server::LogLevel::kWarn
                              : semaphored::server::LogLevel::kInfo,
      "file_limit",
      {{"open_files", static_cast<uint64_t>(file_limit.after)},
       {"was", static_cast<uint64_t>(file_limit.before)},
       {"hard", static_cast<uint64_t>(file_limit.hard)}});

  std::atomic<bool> stopping{false};
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    if (stopping.load()) return;  // woken by main below
    server.RequestShutdown(sig == SIGINT ? "SIGINT" : "SIGTERM");
  });
  // A signal or the admin Drain RPC; the shutdown runs here, never on a gRPC thread.
  const std::string trigger = server.AwaitShutdownRequest().value_or("shutdown");
  server.logger().Log(semaphored::server::LogLevel::kInfo, "shutdown",
                      {{"trigger", trigger}});
  if (trigger == "store_failed") {
    // The memory is ahead of the store: nothing may be answered any more, so there is
    // nothing to drain (the calls in flight wait for answers that never come). Exit
    // now; the restart loads what the store kept.
    std::fflush(stderr);
    _exit(kStoreFailedExit);
  }
  const bool listener_dead = trigger == "listener_check";
  if (listener_dead) {
    // With the listener gone, descriptors may be exhausted too: the drain below must
    // not keep a dead server around. This thread ends the process if it hangs.
    std::thread([] {
      absl::SleepFor(kListenerDeadExitDeadline);
      _exit(kListenerDeadExit);
    }).detach();
  }
  server.Shutdown();
  // Wake the signal thread if it is still waiting.
  stopping.store(true);
  pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  server.logger().Log(semaphored::server::LogLevel::kInfo, "stopped");
  started->reset();
  if (trace != nullptr) {
    semaphored::engine::SetCoreTracer(nullptr);
    if (absl::Status s = trace->Close(); !s.ok()) {
      std::fprintf(stderr, "semaphored: --trace_file: %s\n", std::string(s.message()).c_str());
      return 1;
    }
  }
  return listener_dead ? kListenerDeadExit : 0;
}
