#ifndef SEMAPHORED_BENCH_WORKLOADS_H_
#define SEMAPHORED_BENCH_WORKLOADS_H_

// The workloads of semaphored_bench: the floor, W1-W6 and the local '$' semaphores. Each
// one is bounded in time, adds its rows to ctx.report, and returns an error only when it
// could not run at all.

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
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
  double w1_rate = 0;                       // W1 pairs/s, for W3's target
  Floor floor;
};

// Adds the admin credential (if any) to an AdminService call's context.
void AddAdminAuth(const BenchContext& ctx, grpc::ClientContext& context);

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
// Google Benchmark micro-benchmarks of local '$' semaphores and absl::Mutex.
absl::Status RunLocal(BenchContext& ctx, double min_time_s);

// W6's child process: connects to `address`, holds `name`, writes "held\n" to
// stdout, then sleeps until killed (at most 60 s). Returns the exit code.
int RunChildHolder(const std::string& address, const std::string& name);

}  // namespace semaphored::bench

#endif  // SEMAPHORED_BENCH_WORKLOADS_H_
