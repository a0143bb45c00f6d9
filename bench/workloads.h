#ifndef SEMAPHORED_BENCH_WORKLOADS_H_
#define SEMAPHORED_BENCH_WORKLOADS_H_

// The workloads of semaphored_bench: the floor, W1-W6 and the local '$' semaphores. Each
// one is bounded in time, adds its rows to ctx.report, and returns an error only when it
// could not run at all.

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "report.h"
#include "semaphored/client.h"

namespace semaphored::server {
class Server;
}  // namespace semaphored::server

namespace semaphored::bench {

// The floor: the server's cheapest round trips, measured in the same run.
struct Floor {
  double unary_p50_us = 0;   // Ping RPC, one caller
  double unary_p99_us = 0;
  double unary_rate = 0;     // pings/s, one caller
  double stream_p50_us = 0;  // ping command on a session stream, one stream
  double stream_p99_us = 0;
  double stream_rate_1 = 0;  // ping messages/s, one stream
  double stream_rate_n = 0;  // ping messages/s, `concurrency` streams together
  int concurrency = 0;
  // The round trip every latency is compared with: the cheaper of the two p50s.
  double rt_p50_us() const {
    return unary_p50_us < stream_p50_us ? unary_p50_us : stream_p50_us;
  }
};

struct BenchContext {
  std::string address;
  Client* client = nullptr;                 // connected to `address`
  std::shared_ptr<grpc::Channel> channel;   // raw channel for the generated stubs
  // The in-process server; nullptr: --server.
  ::semaphored::server::Server* server = nullptr;
  std::string admin_token;                  // for AdminService calls; empty: none
  std::string self_path;                    // this binary, for W6's child holder
  Report* report = nullptr;
  // The store the server keeps its state in, as rows label it ("memory", "sqlite",
  // "etcd");
  // empty: not labelled (only the in-memory server runs W1-W3).
  std::string store;
  // Starts another in-process server like the main one, keeping its state in
  // `data_dir` (empty: in memory); null with --server. For the durable workloads.
  std::function<absl::StatusOr<std::unique_ptr<::semaphored::server::Server>>(
      const std::string& data_dir)>
      start_server;
  std::string scratch_dir;                  // where data dirs are made (--bench_dir)
  double w1_rate = 0;                       // W1 pairs/s, for W3's target
  double w1_p50_us = 0;                     // W1 pair p50
  double w1_sync_p50_us = 0;                // W1 Set + Clear pair p50 (clear awaited)
  double w2_rate = 0;                       // W2 pairs/s
  double w3_rate = 0;                       // W3 handoffs/s
  double w3_p99_us = 0;                     // W3 wait p99
  double commit_p50_us = 0;                 // the durable floor (0: not measured)
  double w1_commit_mean_us = 0;             // the durable server's mean commit in W1
  // The server's Prometheus page, for the commit rows after each workload; null: none
  // (a server in memory commits nothing).
  std::function<absl::StatusOr<std::string>()> store_metrics;
  // The durable server's commit counters when its last workload ended.
  struct Commits {
    double commits = 0, answers = 0, effects = 0, seconds = 0;
  } commits;
  Floor floor;

  // `workload` ("W1") labelled with the store when there is one ("W1 sqlite").
  std::string Label(const std::string& workload) const {
    return store.empty() ? workload : workload + " " + store;
  }
};

// Adds the admin credential (if any) to an AdminService call's context.
void AddAdminAuth(const BenchContext& ctx, grpc::ClientContext& context);

// 128 random bits in hex: an admin token for a server the benchmark starts.
std::string RandomAdminToken();

// Runs fn(i) on n threads and joins them.
void RunThreads(int n, const std::function<void(int)>& fn);

absl::Status RunFloor(BenchContext& ctx, absl::Duration duration, int concurrency);
absl::Status RunW1(BenchContext& ctx, absl::Duration duration);
absl::Status RunW2(BenchContext& ctx, absl::Duration duration, int clients);
absl::Status RunW3(BenchContext& ctx, absl::Duration duration, int clients);
absl::Status RunW4(BenchContext& ctx, absl::Duration duration, int clients, int limit);
absl::Status RunW5(BenchContext& ctx, int sessions, int semaphores_per_session,
                   int samples);
absl::Status RunW6(BenchContext& ctx, absl::Duration ttl, int close_repeats);
// The durable floor: Commit of a batch with one TokenHighWater to a fresh SqliteStore
// in ctx.scratch_dir, `samples` times (or until `max_duration`); sets
// ctx.commit_p50_us.
absl::Status RunCommitFloor(BenchContext& ctx, int samples, absl::Duration max_duration);
// Runs `workloads` (W1-W3) against a server started by ctx.start_server on a fresh data
// dir (removed afterwards), with rows labelled "sqlite"; then adds the rows comparing
// it with `memory` (the in-memory run's context; skipped when it ran nothing).
absl::Status RunDurable(BenchContext& ctx, const BenchContext& memory,
                        const std::function<void(BenchContext&)>& workloads);
// Reads the commit counters of the server behind ctx.store_metrics (if any) as the
// start of the next AddCommitRows.
void StartCommitRows(BenchContext& ctx);
// After a workload on a server with a store (ctx.store_metrics set): rows with its
// commits since the previous call (batches, answers per batch, mean commit time), read
// from the server's metrics; a note when they cannot be read.
void AddCommitRows(BenchContext& ctx, const std::string& workload);
// Fills a fresh data dir with `holders` held semaphores (1000 sessions), then times
// ctx.start_server on it until a Ping is answered; checks every holder came back.
absl::Status RunRestart(BenchContext& ctx, int holders);
// Google Benchmark micro-benchmarks of local '$' semaphores and absl::Mutex.
absl::Status RunLocal(BenchContext& ctx, double min_time_s);

// W6's child process: connects to `address`, holds `name`, writes "held\n" to
// stdout, then sleeps until killed (at most 60 s). Returns the exit code.
int RunChildHolder(const std::string& address, const std::string& name);

}  // namespace semaphored::bench

#endif  // SEMAPHORED_BENCH_WORKLOADS_H_
