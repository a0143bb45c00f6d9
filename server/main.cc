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
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/server.h"

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
ABSL_FLAG(int64_t, max_sessions, kDefaults.max_sessions, "Most live sessions.");
ABSL_FLAG(int64_t, max_held_per_session, kDefaults.max_held_per_session,
          "Most semaphores one session may hold.");
ABSL_FLAG(int64_t, max_waiters_per_semaphore, kDefaults.max_waiters_per_semaphore,
          "Most queued requests per semaphore.");
ABSL_FLAG(int32_t, max_message_bytes, 64 * 1024,
          "Largest request message accepted, in bytes.");
ABSL_FLAG(std::string, port_file, "",
          "If set, the bound port number is written to this file once the server "
          "listens (for scripts using --listen=HOST:0).");

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
                                      "port_file"};

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

absl::StatusOr<ServerOptions> OptionsFromFlags() {
  ServerOptions options;
  options.listen_address = absl::GetFlag(FLAGS_listen);
  options.state_file = absl::GetFlag(FLAGS_state_file);
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
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

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "The semaphored server: global semaphores owned by client sessions, over gRPC.\n"
      "Usage: semaphored [--listen=HOST:PORT] [--state_file=PATH] ...\n"
      "Every flag may also come from the environment as SEMAPHORED_<FLAG>, e.g.\n"
      "SEMAPHORED_LISTEN=0.0.0.0:50051; the command line wins.\n"
      "SIGINT/SIGTERM drain the server (waiters get UNAVAILABLE, holders are told)\n"
      "and exit 0.");
  if (absl::Status env = ApplyEnvironment(); !env.ok()) {
    std::fprintf(stderr, "semaphored: %s\n", std::string(env.message()).c_str());
    return 2;
  }
  absl::ParseCommandLine(argc, argv);
  absl::StatusOr<ServerOptions> options = OptionsFromFlags();
  if (!options.ok()) {
    std::fprintf(stderr, "semaphored: %s\n",
                 std::string(options.status().message()).c_str());
    return 2;
  }

  // Block the shutdown signals in every thread (gRPC's inherit the mask); one thread
  // takes them with sigwait, so that no work happens in a signal handler.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(*std::move(options));
  if (!server.ok()) {
    std::fprintf(stderr, "semaphored: %s\n",
                 std::string(server.status().message()).c_str());
    return 1;
  }
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty()) {
    if (absl::Status s = WritePortFile(port_file, (*server)->port()); !s.ok()) {
      std::fprintf(stderr, "semaphored: %s\n", std::string(s.message()).c_str());
      return 1;
    }
  }
  std::fprintf(stderr, "semaphored: listening on %s\n", (*server)->address().c_str());

  std::atomic<bool> stopping{false};
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    if (stopping.load()) return;  // woken by main below
    std::fprintf(stderr, "semaphored: %s received, shutting down\n",
                 sig == SIGINT ? "SIGINT" : "SIGTERM");
    (*server)->Shutdown();
  });
  (*server)->Wait();
  // If something else shut the server down, wake the signal thread.
  stopping.store(true);
  pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  server->reset();
  return 0;
}
