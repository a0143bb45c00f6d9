#ifndef SEMAPHORED_BENCH_ETCD_BENCH_H_
#define SEMAPHORED_BENCH_ETCD_BENCH_H_

// The benchmark on etcd (issue 12), in one run on one etcd cluster: W1-W3 against
// semaphored processes keeping their state in etcd, the same workloads against etcd's
// own lock service (v3lockpb.Lock / Unlock) on that cluster, the ratios between them,
// and the failover time of semaphored when its leader is SIGKILLed.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server_group.h"
#include "workloads.h"

namespace semaphored::bench {

struct EtcdBenchOptions {
  std::string semaphored_binary;  // the server binary the group runs
  int members = 3;                // etcd members
  int servers = 3;                // semaphored processes on them
  std::string leader_lease_ttl;   // --leader_lease_ttl; empty: the server's default
  bool w1 = true, w2 = true, w3 = true;
  bool failover = true;
  int failover_repeats = 5;
  absl::Duration duration = absl::Seconds(3);  // each of W1-W3, on either side
  int w2_clients = 64;
  int w3_clients = 16;
};

// Starts an etcd cluster in ctx.scratch_dir and a ServerGroup on it, then measures
// etcd's own floor (a put, a read), W1-W3 on semaphored (rows "W1 etcd", ...) and on
// etcd's lock (rows "W1 etcd-lock", ...), interleaved, the ratio rows ("etcd/etcd-lock")
// and, with `options.failover`, RunEtcdFailover. Stops every process it started.
// Errors: the cluster or the servers could not start.
absl::Status RunEtcd(BenchContext& ctx, const EtcdBenchOptions& options);

// What etcd's lock measured, for the ratio rows (0: not measured).
struct EtcdLockResults {
  double w1_rate = 0;    // Lock + Unlock pairs/s, one client
  double w1_p50_us = 0;  // pair p50
  double w2_rate = 0;    // pairs/s, W2's clients on distinct names
  double w3_rate = 0;    // handoffs/s, W3's clients on one name
  double w3_p99_us = 0;  // Lock call to grant, p99
};

// etcd's floor on `endpoints`: one client's put (one Raft commit), transaction of 100
// puts and linearizable read, p50 and p99, for `duration` each. Rows "etcd floor".
absl::Status RunEtcdFloor(const BenchContext& ctx, const std::vector<std::string>& endpoints,
                          absl::Duration duration);

// etcd's lock service, each client with its own lease (60 s TTL, revoked at the end)
// on member i % members: W1 (one client, Lock + Unlock pairs), W2 (`clients` on
// distinct names), W3 (`clients` on one name, with etcd's grant order checked against
// its queue order through a watch). Rows "W1 etcd-lock", ...; fills `out`.
absl::Status RunEtcdLockW1(const BenchContext& ctx, const std::vector<std::string>& endpoints,
                           absl::Duration duration, EtcdLockResults& out);
absl::Status RunEtcdLockW2(const BenchContext& ctx, const std::vector<std::string>& endpoints,
                           absl::Duration duration, int clients, EtcdLockResults& out);
absl::Status RunEtcdLockW3(const BenchContext& ctx, const std::vector<std::string>& endpoints,
                           absl::Duration duration, int clients, EtcdLockResults& out);

// Failover, `repeats` times: a session (through the library, given every server's
// address) holds a semaphore; the leader is SIGKILLed; the clock runs until the same
// session, resumed on the next leader, is granted another semaphore. The killed server
// is started again (a standby) before the next repetition. Rows "failover etcd".
absl::Status RunEtcdFailover(const BenchContext& ctx, ServerGroup& group, int repeats,
                             const std::string& lease);

}  // namespace semaphored::bench

#endif  // SEMAPHORED_BENCH_ETCD_BENCH_H_
