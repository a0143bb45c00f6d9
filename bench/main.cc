// semaphored_bench: the benchmark of the server's floor, workloads W1-W6 and local '$' semaphores.
// See README "Performance" and --help.

#include <unistd.h>

#include <iostream>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "server/server.h"
#include "workloads.h"

ABSL_FLAG(std::string, server, "",
          "Address of a running semaphored (HOST:PORT); empty: start one in-process on "
          "127.0.0.1:0 (W5 needs the in-process server)");
ABSL_FLAG(std::string, admin_token, "",
          "Admin bearer token of the --server (W3's FIFO check and W5 use AdminService); "
          "the in-process server gets a random one");
ABSL_FLAG(std::string, workloads, "floor,w1,w2,w3,w4,w5,w6,local",
          "Comma-separated workloads to run (the floor always runs)");
ABSL_FLAG(absl::Duration, floor_duration, absl::Seconds(1.5),
          "How long each floor measurement runs");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(3), "How long each of W1-W4 runs");
ABSL_FLAG(int, w2_clients, 64, "W2 sessions (threads), and the stream floor's concurrency");
ABSL_FLAG(int, w3_clients, 16, "W3 sessions on one binary semaphore");
ABSL_FLAG(int, w4_clients, 64, "W4 sessions on one counting semaphore");
ABSL_FLAG(int, w4_limit, 8, "W4 semaphore limit");
ABSL_FLAG(int, w5_sessions, 1000, "W5 sessions (full size: 10000)");
ABSL_FLAG(int, w5_per_session, 100, "W5 semaphores held per session (full size: 100)");
ABSL_FLAG(int, w5_samples, 500, "W5 test and list calls timed");
ABSL_FLAG(absl::Duration, w6_ttl, absl::Seconds(1), "W6 holder session TTL");
ABSL_FLAG(int, w6_close_repeats, 20, "W6 clean-close repetitions");
ABSL_FLAG(double, local_min_time, 0.5, "Google Benchmark min time per local benchmark (s)");
ABSL_FLAG(bool, absl_deadlock_detection, false,
          "Keep Abseil's mutex deadlock detection on (Debian's default, off in the "
          "semaphored binary): for before/after comparisons");
ABSL_FLAG(std::string, json_out, "", "Write the results as JSON to this file");
ABSL_FLAG(std::string, w6_child_holder, "", "Internal: run as W6's child holder");
ABSL_FLAG(std::string, w6_child_name, "", "Internal: the name W6's child holds");

namespace semaphored::bench {
namespace {

// Drops the server's log lines (thousands of session starts and ends).
class NullLogSink : public ::semaphored::server::LogSink {
 public:
  void Write(absl::string_view) override {}
};

std::string SelfPath() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, n) : std::string();
}

void Check(const char* what, const absl::Status& s, Report& report) {
  if (!s.ok()) {
    std::cerr << what << " failed: " << s << "\n";
    report.Note(std::string(what) + " failed: " + s.ToString());
  }
}

int Main() {
  absl::Time started = absl::Now();
  std::set<std::string> workloads;
  for (absl::string_view w : absl::StrSplit(absl::GetFlag(FLAGS_workloads), ',')) {
    workloads.insert(std::string(w));
  }
  NullLogSink null_sink;
  std::unique_ptr<::semaphored::server::Server> server;
  std::string address = absl::GetFlag(FLAGS_server);
  std::string admin_token = absl::GetFlag(FLAGS_admin_token);
  if (address.empty()) {
    ::semaphored::server::ServerOptions options;
    // Admin over TCP needs a token (W3's FIFO check and W5's list use the admin
    // service): the in-process server gets a random one.
    if (admin_token.empty()) {
      std::random_device random;
      for (int i = 0; i < 4; ++i) {
        absl::StrAppend(&admin_token, absl::Hex(random(), absl::kZeroPad8));
      }
    }
    options.admin_token = admin_token;
    options.admin_socket = "";
    options.listen_address = "127.0.0.1:0";
    options.log_sink = &null_sink;
    options.core.min_ttl = std::min(options.core.min_ttl, absl::GetFlag(FLAGS_w6_ttl));
    options.core.max_sessions = std::max<int64_t>(options.core.max_sessions,
                                                  absl::GetFlag(FLAGS_w5_sessions) + 1000);
    // W5 keeps every session's stream open on the client's one connection.
    options.transport.max_concurrent_streams = std::max(
        options.transport.max_concurrent_streams, absl::GetFlag(FLAGS_w5_sessions) + 1000);
    // The bench's clients all come from this host and W5 sets directly on the core:
    // the per-peer limits and the total caps must not cut a measurement short.
    options.core.max_sessions_per_peer = 0;
    options.core.session_rate_per_peer = 0;
    const int64_t w5_holds = int64_t{absl::GetFlag(FLAGS_w5_sessions)} *
                             absl::GetFlag(FLAGS_w5_per_session);
    options.core.max_semaphores =
        std::max<int64_t>(options.core.max_semaphores, w5_holds + 100'000);
    options.core.max_holds = std::max<int64_t>(options.core.max_holds, w5_holds + 100'000);
    absl::StatusOr<std::unique_ptr<::semaphored::server::Server>> started_server =
        ::semaphored::server::Server::Start(options);
    if (!started_server.ok()) {
      std::cerr << "cannot start the server: " << started_server.status() << "\n";
      return 1;
    }
    server = *std::move(started_server);
    address = server->address();
  }
  ClientOptions client_options;
  client_options.address = address;
  client_options.client_name = "semaphored_bench";
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(client_options);
  if (!client.ok()) {
    std::cerr << client.status() << "\n";
    return 1;
  }
  Report report;
  BenchContext ctx;
  ctx.address = address;
  ctx.client = client->get();
  ctx.channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  ctx.server = server.get();
  ctx.self_path = SelfPath();
  ctx.admin_token = admin_token;
  ctx.report = &report;
  std::cerr << "semaphored_bench: server " << address
            << (server ? " (in-process)" : "") << "\n";

  absl::Status floor = RunFloor(ctx, absl::GetFlag(FLAGS_floor_duration),
                                absl::GetFlag(FLAGS_w2_clients));
  if (!floor.ok()) {
    std::cerr << "floor failed: " << floor << "\n";
    return 1;
  }
  absl::Duration d = absl::GetFlag(FLAGS_duration);
  auto wants = [&](const char* w) { return workloads.count(w) > 0; };
  if (wants("w1")) Check("W1", RunW1(ctx, d), report);
  if (wants("w2")) Check("W2", RunW2(ctx, d, absl::GetFlag(FLAGS_w2_clients)), report);
  if (wants("w3")) Check("W3", RunW3(ctx, d, absl::GetFlag(FLAGS_w3_clients)), report);
  if (wants("w4")) {
    Check("W4", RunW4(ctx, d, absl::GetFlag(FLAGS_w4_clients), absl::GetFlag(FLAGS_w4_limit)),
          report);
  }
  if (wants("w5")) {
    Check("W5", RunW5(ctx, absl::GetFlag(FLAGS_w5_sessions),
                      absl::GetFlag(FLAGS_w5_per_session), absl::GetFlag(FLAGS_w5_samples)),
          report);
  }
  if (wants("w6")) {
    Check("W6", RunW6(ctx, absl::GetFlag(FLAGS_w6_ttl), absl::GetFlag(FLAGS_w6_close_repeats)),
          report);
  }
  if (wants("local")) Check("local", RunLocal(ctx, absl::GetFlag(FLAGS_local_min_time)), report);

  double elapsed = absl::ToDoubleSeconds(absl::Now() - started);
  std::cout << "\n";
  report.PrintTable(std::cout);
  std::cout << "elapsed: " << elapsed << " s\n";
  std::string json = absl::GetFlag(FLAGS_json_out);
  if (!json.empty() && !report.WriteJson(json, elapsed)) {
    std::cerr << "cannot write " << json << "\n";
    return 1;
  }
  client->reset();
  if (server) server->Shutdown();
  return 0;
}

}  // namespace
}  // namespace semaphored::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // As the semaphored binary does (server/main.cc): Debian's Abseil is built without
  // NDEBUG, so every absl::Mutex operation would also update a lock-order graph.
  if (!absl::GetFlag(FLAGS_absl_deadlock_detection)) {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  }
  std::string child = absl::GetFlag(FLAGS_w6_child_holder);
  if (!child.empty()) {
    return semaphored::bench::RunChildHolder(child, absl::GetFlag(FLAGS_w6_child_name));
  }
  return semaphored::bench::Main();
}
