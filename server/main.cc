// semaphored: the semaphore server.
//
// Every flag can also be given as an environment variable SEMAPHORED_<FLAG NAME IN
// UPPER CASE> (for Docker), e.g. SEMAPHORED_LISTEN=0.0.0.0:50051; a flag on the
// command line wins over the environment.

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
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
#include "absl/time/time.h"
#include "server/observability/logger.h"
#include "server/observability/metrics_http_server.h"
#include "server/observability/server_events.h"
#include "server/server.h"
#include "server/server_config.h"

namespace {
const semaphored::internal::CoreOptions kDefaults;
}  // namespace

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "Address to listen on, HOST:PORT (0.0.0.0:PORT for every interface, port 0 "
          "picks a free port).");
ABSL_FLAG(absl::Duration, default_ttl, kDefaults.default_ttl,
          "Session TTL when the client asks for none (e.g. 10s).");
ABSL_FLAG(absl::Duration, min_ttl, kDefaults.min_ttl, "Smallest session TTL accepted.");
ABSL_FLAG(absl::Duration, max_ttl, kDefaults.max_ttl, "Largest session TTL accepted.");
ABSL_FLAG(std::string, state_file, "semaphored.state",
          "File recording fencing tokens so that they keep increasing across restarts "
          "(relative to the working directory). Empty: tokens are kept in memory "
          "and start from the wall clock in microseconds.");
ABSL_FLAG(int64_t, max_sessions, kDefaults.max_sessions,
          "Most live sessions; CreateSession beyond it gets RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, max_held_per_session, kDefaults.max_held_per_session,
          "Most semaphores one session may hold at once; setting another gets "
          "RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, max_waiters_per_semaphore, kDefaults.max_waiters_per_semaphore,
          "Most queued requests (set and wait-for-clear) per semaphore; one more "
          "waiting request gets RESOURCE_EXHAUSTED (a try without waiting is still "
          "answered).");
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
ABSL_FLAG(std::string, admin_socket, semaphored::internal::kAdminSocketAuto,
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
ABSL_FLAG(semaphored::internal::LogFormat, log_format,
          semaphored::internal::LogFormat::kText,
          "Log lines on stderr: text (human-readable key=value) or json (one object "
          "per line).");
ABSL_FLAG(std::string, trace_file, "",
          "For testing: write every queue/grant/release/session-end record of the core "
          "to this file, one line each in the core's order (see TraceFileWriter in "
          "server/observability/server_events.h). Empty: no trace.");

namespace {

using semaphored::internal::Server;
using semaphored::internal::ServerOptions;

constexpr const char* kFlagNames[] = {"listen",
                                      "default_ttl",
                                      "min_ttl",
                                      "max_ttl",
                                      "state_file",
                                      "max_sessions",
                                      "max_held_per_session",
                                      "max_waiters_per_semaphore",
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
                                      "trace_file"};

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
  if (!file.empty()) return semaphored::internal::ReadAdminTokenFile(file);
  if (absl::Status s = semaphored::internal::ValidateAdminToken(token, "--admin_token");
      !s.ok()) {
    return s;
  }
  return token;
}

absl::StatusOr<ServerOptions> OptionsFromFlags() {
  ServerOptions options;
  options.listen_address = absl::GetFlag(FLAGS_listen);
  options.state_file = absl::GetFlag(FLAGS_state_file);
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.metrics_address = absl::GetFlag(FLAGS_metrics_address);
  options.log_format = absl::GetFlag(FLAGS_log_format);
  absl::StatusOr<std::string> token = AdminTokenFromFlags();
  if (!token.ok()) return token.status();
  options.admin_token = *std::move(token);
  options.admin_socket = absl::GetFlag(FLAGS_admin_socket);
  absl::StatusOr<semaphored::internal::TlsOptions> tls = semaphored::internal::LoadTlsFiles(
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
  return options;
}

// Writes the port to `path` through a temporary file and a rename, so that a reader
// never sees a partial number.
absl::Status WritePortFile(const std::string& path, int port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out.good()) return absl::UnavailableError("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError("cannot rename " + tmp + " to " + path);
  }
  return absl::OkStatus();
}

// The startup lines: "semaphored: listening on HOST:PORT" first in text format (scripts
// wait for it), then the structured server_start line. On a wildcard address the line
// goes on with where to connect on this machine: "... on 0.0.0.0:PORT (all
// addresses; locally 127.0.0.1:PORT)".
void LogStarted(const Server& server, bool tls, bool mtls, bool admin_token) {
  const semaphored::internal::Logger& logger = server.logger();
  if (logger.format() == semaphored::internal::LogFormat::kText) {
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
    absl::StatusOr<semaphored::internal::HostPort> host =
        semaphored::internal::ParseListenAddress(absl::GetFlag(FLAGS_metrics_address));
    metrics = absl::StrCat("http://", host.ok() ? host->host : "?", ":",
                           server.metrics_port(), "/metrics");
  }
  logger.Log(semaphored::internal::LogLevel::kInfo, "server_start",
             {{"address", server.address()},
              {"tls", mtls ? "mutual" : (tls ? "on" : "off")},
              {"admin", admin_token ? "token" : "socket_only"},
              {"admin_socket",
               server.admin_socket_path().empty() ? "off" : server.admin_socket_path()},
              {"metrics", metrics}});
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
      "Exit codes: 0 after a drain, 1 when the server cannot start, 2 for bad flags.");
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
  std::unique_ptr<semaphored::internal::TraceFileWriter> trace;
  if (const std::string path = absl::GetFlag(FLAGS_trace_file); !path.empty()) {
    absl::StatusOr<std::unique_ptr<semaphored::internal::TraceFileWriter>> opened =
        semaphored::internal::TraceFileWriter::Open(path);
    if (!opened.ok()) {
      std::fprintf(stderr, "semaphored: --trace_file: %s\n",
                   std::string(opened.status().message()).c_str());
      return 1;
    }
    trace = *std::move(opened);
    semaphored::internal::SetCoreTracer(trace.get());
  }
  absl::StatusOr<std::unique_ptr<Server>> started = Server::Start(*std::move(options));
  if (!started.ok()) {
    std::fprintf(stderr, "semaphored: %s\n",
                 std::string(started.status().message()).c_str());
    return 1;
  }
  Server& server = **started;
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty()) {
    if (absl::Status s = WritePortFile(port_file, server.port()); !s.ok()) {
      std::fprintf(stderr, "semaphored: %s\n", std::string(s.message()).c_str());
      return 1;
    }
  }
  LogStarted(server, tls, mtls, admin_token);

  std::atomic<bool> stopping{false};
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    if (stopping.load()) return;  // woken by main below
    server.RequestShutdown(sig == SIGINT ? "SIGINT" : "SIGTERM");
  });
  // A signal or the admin Drain RPC; the shutdown runs here, never on a gRPC thread.
  const std::string trigger = server.AwaitShutdownRequest().value_or("shutdown");
  server.logger().Log(semaphored::internal::LogLevel::kInfo, "shutdown",
                      {{"trigger", trigger}});
  server.Shutdown();
  // Wake the signal thread if it is still waiting.
  stopping.store(true);
  pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  server.logger().Log(semaphored::internal::LogLevel::kInfo, "stopped");
  started->reset();
  if (trace != nullptr) {
    semaphored::internal::SetCoreTracer(nullptr);
    if (absl::Status s = trace->Close(); !s.ok()) {
      std::fprintf(stderr, "semaphored: --trace_file: %s\n", std::string(s.message()).c_str());
      return 1;
    }
  }
  return 0;
}
