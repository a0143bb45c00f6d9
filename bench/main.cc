// semaphored_bench: the benchmark of the server's floor, workloads W1-W6 and local '$' semaphores.
// See README "Performance" and --help.

#include <unistd.h>

#include <algorithm>
#include <functional>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "etcd_bench.h"
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
ABSL_FLAG(std::string, workloads, "floor,w1,w2,w3,w4,w5,w6,local,restart,etcd_failover",
          "Comma-separated workloads to run (the floor always runs; etcd_failover only "
          "when --stores lists etcd)");
ABSL_FLAG(std::string, stores, "memory,sqlite",
          "Comma-separated stores W1-W3 run against, in the same run: memory (the "
          "in-process server), sqlite (another in-process server with a fresh data dir "
          "under --bench_dir; also measures the durable floor, one empty commit), etcd "
          "(a 3-member etcd cluster under --bench_dir with --etcd_servers semaphored "
          "processes on it, against etcd's own lock service on the same cluster)");
ABSL_FLAG(std::string, bench_dir, "",
          "Where the durable workloads make (and remove) their data dirs; empty: the "
          "temporary directory ($TMPDIR or /tmp). Put it on the disk being measured");
ABSL_FLAG(int, commit_samples, 300, "Empty commits timed for the durable floor");
ABSL_FLAG(int, restart_holders, 100000,
          "Held semaphores in the data dir the restart workload starts a server on");
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
ABSL_FLAG(std::string, semaphored_binary, SEMAPHORED_BINARY,
          "The semaphored executable that --stores=etcd runs (as processes)");
ABSL_FLAG(int, etcd_members, 3, "With --stores=etcd: etcd members (/usr/bin/etcd)");
ABSL_FLAG(int, etcd_servers, 3, "With --stores=etcd: semaphored processes on the cluster");
ABSL_FLAG(std::string, etcd_leader_lease_ttl, "",
          "With --stores=etcd: the servers' --leader_lease_ttl; empty: their default");
ABSL_FLAG(int, etcd_failover_repeats, 5,
          "With --stores=etcd: leader kills timed by the etcd_failover workload");
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

// The in-process server's options: loopback, port 0, logs discarded, limits raised so
// that no workload is cut short; its state in `data_dir` (empty: in memory).
::semaphored::server::ServerOptions BenchServerOptions(const std::string& admin_token,
                                                       ::semaphored::server::LogSink* sink,
                                                       const std::string& data_dir) {
  ::semaphored::server::ServerOptions options;
  options.admin_token = admin_token;
  options.admin_socket = "";
  options.listen_address = "127.0.0.1:0";
  options.log_sink = sink;
  options.data_dir = data_dir;
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
  const int64_t holds =
      std::max<int64_t>(int64_t{absl::GetFlag(FLAGS_w5_sessions)} *
                            absl::GetFlag(FLAGS_w5_per_session),
                        absl::GetFlag(FLAGS_restart_holders));
  options.core.max_semaphores = std::max<int64_t>(options.core.max_semaphores, holds + 100'000);
  options.core.max_holds = std::max<int64_t>(options.core.max_holds, holds + 100'000);
  return options;
}

int Main() {
  absl::Time started = absl::Now();
  std::set<std::string> workloads;
  for (absl::string_view w : absl::StrSplit(absl::GetFlag(FLAGS_workloads), ',')) {
    workloads.insert(std::string(w));
  }
  std::set<std::string> stores;
  for (absl::string_view w : absl::StrSplit(absl::GetFlag(FLAGS_stores), ',')) {
    if (w == "memory" || w == "sqlite" || w == "etcd") {
      stores.insert(std::string(w));
    } else if (!w.empty()) {
      std::cerr << "--stores: unknown store \"" << w << "\" (memory, sqlite, etcd)\n";
      return 2;
    }
  }
  NullLogSink null_sink;
  std::unique_ptr<::semaphored::server::Server> server;
  std::string address = absl::GetFlag(FLAGS_server);
  std::string admin_token = absl::GetFlag(FLAGS_admin_token);
  std::function<absl::StatusOr<std::unique_ptr<::semaphored::server::Server>>(
      const std::string&)>
      start_server;
  if (address.empty()) {
    // Admin over TCP needs a token (W3's FIFO check and W5's list use the admin
    // service): the in-process server gets a random one.
    if (admin_token.empty()) admin_token = RandomAdminToken();
    start_server = [&null_sink, admin_token](const std::string& data_dir) {
      return ::semaphored::server::Server::Start(
          BenchServerOptions(admin_token, &null_sink, data_dir));
    };
    absl::StatusOr<std::unique_ptr<::semaphored::server::Server>> started_server =
        start_server("");
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
  ctx.start_server = start_server;
  ctx.scratch_dir = absl::GetFlag(FLAGS_bench_dir);
  // Rows name their store when there is more than the in-memory one.
  if (stores.count("sqlite") || stores.count("etcd")) ctx.store = "memory";
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
  // W1-W3 on each store, in the same run; the durable floor first, for W1's target.
  auto w123 = [&](BenchContext& c) {
    if (wants("w1")) {
      Check(c.Label("W1").c_str(), RunW1(c, d), report);
      AddCommitRows(c, "W1");
    }
    if (wants("w2")) {
      Check(c.Label("W2").c_str(), RunW2(c, d, absl::GetFlag(FLAGS_w2_clients)), report);
      AddCommitRows(c, "W2");
    }
    if (wants("w3")) {
      Check(c.Label("W3").c_str(), RunW3(c, d, absl::GetFlag(FLAGS_w3_clients)), report);
      AddCommitRows(c, "W3");
    }
  };
  if (stores.count("sqlite")) {
    Check("durable floor",
          RunCommitFloor(ctx, absl::GetFlag(FLAGS_commit_samples), absl::Seconds(10)), report);
  }
  BenchContext memory_ctx = ctx;  // what the in-memory run measured, for the ratios
  if (stores.count("memory")) {
    w123(ctx);
    memory_ctx = ctx;
  }
  if (stores.count("sqlite") && (wants("w1") || wants("w2") || wants("w3"))) {
    Check("durable W1-W3", RunDurable(ctx, memory_ctx, w123), report);
  }
  if (stores.count("etcd") &&
      (wants("w1") || wants("w2") || wants("w3") || wants("etcd_failover"))) {
    EtcdBenchOptions etcd;
    etcd.semaphored_binary = absl::GetFlag(FLAGS_semaphored_binary);
    etcd.members = absl::GetFlag(FLAGS_etcd_members);
    etcd.servers = absl::GetFlag(FLAGS_etcd_servers);
    etcd.leader_lease_ttl = absl::GetFlag(FLAGS_etcd_leader_lease_ttl);
    etcd.w1 = wants("w1");
    etcd.w2 = wants("w2");
    etcd.w3 = wants("w3");
    etcd.failover = wants("etcd_failover");
    etcd.failover_repeats = absl::GetFlag(FLAGS_etcd_failover_repeats);
    etcd.duration = d;
    etcd.w2_clients = absl::GetFlag(FLAGS_w2_clients);
    etcd.w3_clients = absl::GetFlag(FLAGS_w3_clients);
    Check("etcd", RunEtcd(ctx, etcd), report);
  }
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
  if (wants("restart")) {
    Check("restart", RunRestart(ctx, absl::GetFlag(FLAGS_restart_holders)), report);
  }

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
