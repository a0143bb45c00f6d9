// RunEtcd: one etcd cluster, semaphored on it against etcd's own lock, in one run.

#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "etcd_bench.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "scratch_dir.h"
#include "store/etcd_client.h"
#include "tests/etcd/etcd_cluster.h"

namespace semaphored::bench {
namespace {

// Records a workload that could not run as a note (the others still run).
void NoteError(Report& r, const std::string& what, const absl::Status& s) {
  if (s.ok()) return;
  std::cerr << what << " failed: " << s << "\n";
  r.Note(absl::StrCat(what, " failed: ", s.ToString()));
}

// etcd's current revision (one more for each transaction that wrote).
absl::StatusOr<int64_t> Revision(const std::vector<std::string>& endpoints) {
  store::EtcdOptions options;
  options.endpoints = endpoints;
  absl::StatusOr<std::unique_ptr<store::EtcdClient>> etcd = store::EtcdClient::Create(options);
  if (!etcd.ok()) return etcd.status();
  etcdserverpb::RangeRequest request;
  request.set_key("/");
  request.set_count_only(true);
  absl::StatusOr<etcdserverpb::RangeResponse> range = (*etcd)->Range(request);
  if (!range.ok()) return range.status();
  return range->header().revision();
}

// The rows comparing semaphored on etcd with etcd's lock, measured just before.
void AddRatioRows(Report& r, const BenchContext& on_etcd, const EtcdLockResults& lock) {
  const std::string label = "etcd/etcd-lock";
  if (on_etcd.w1_rate > 0 && lock.w1_rate > 0) {
    r.Add({label, "W1 pairs/s ratio (1 client)", on_etcd.w1_rate / lock.w1_rate, "x",
           std::nullopt, "", {}});
  }
  if (on_etcd.w1_sync_p50_us > 0 && lock.w1_p50_us > 0) {
    r.Add({label, "W1 pair p50 ratio, both awaited (lower: faster)",
           on_etcd.w1_sync_p50_us / lock.w1_p50_us, "x", std::nullopt, "", {}});
  }
  if (on_etcd.w2_rate > 0 && lock.w2_rate > 0) {
    const double ratio = on_etcd.w2_rate / lock.w2_rate;
    r.Add({label, "W2 pairs/s ratio", ratio, "x", std::nullopt, ">= 3", ratio >= 3});
  }
  if (on_etcd.w3_rate > 0 && lock.w3_rate > 0) {
    const double ratio = on_etcd.w3_rate / lock.w3_rate;
    r.Add({label, "W3 handoffs/s ratio", ratio, "x", std::nullopt, ">= 10", ratio >= 10});
  }
  if (on_etcd.w3_p99_us > 0 && lock.w3_p99_us > 0) {
    r.Add({label, "W3 wait p99 ratio (lower: faster)", on_etcd.w3_p99_us / lock.w3_p99_us,
           "x", std::nullopt, "", {}});
  }
}

// W1-W3 on the group's leader, each followed by the same workload on etcd's lock, then
// the ratio rows. Errors: no leader, or the client cannot connect.
absl::Status RunWorkloads(const BenchContext& ctx, ServerGroup& group,
                          const std::string& admin_token,
                          const std::vector<std::string>& endpoints,
                          const EtcdBenchOptions& options) {
  Report& r = *ctx.report;
  absl::StatusOr<ServerGroup::Leader> leader = group.AwaitLeader(absl::Seconds(10));
  if (!leader.ok()) return leader.status();

  // The workloads' client is given every server's address (it finds the leader); the
  // raw channel, for W3's FIFO check through the admin service, goes to the leader.
  ClientOptions client_options;
  client_options.address = group.addresses();
  client_options.client_name = "semaphored_bench";
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(client_options);
  if (!client.ok()) return client.status();
  BenchContext on_etcd = ctx;
  on_etcd.store = "etcd";
  on_etcd.address = client_options.address;
  on_etcd.client = client->get();
  on_etcd.channel =
      grpc::CreateChannel(group.address(leader->index), grpc::InsecureChannelCredentials());
  on_etcd.admin_token = admin_token;
  on_etcd.server = nullptr;
  on_etcd.start_server = nullptr;
  on_etcd.w1_rate = on_etcd.w1_p50_us = on_etcd.w1_sync_p50_us = 0;
  on_etcd.w2_rate = on_etcd.w3_rate = on_etcd.w3_p99_us = 0;
  ServerGroup* servers = &group;
  const int leading = leader->index;
  on_etcd.store_metrics = [servers, leading] { return servers->MetricsPage(leading); };
  StartCommitRows(on_etcd);

  // A workload on semaphored, with its commit rows and the etcd transactions each
  // commit took (etcd's revision grows by one per transaction that writes; only the
  // leader writes meanwhile).
  auto on_semaphored = [&](const std::string& workload, const std::function<absl::Status()>& run) {
    const absl::StatusOr<int64_t> revision0 = Revision(endpoints);
    const double commits0 = on_etcd.commits.commits;
    NoteError(r, on_etcd.Label(workload), run());
    AddCommitRows(on_etcd, workload);
    const absl::StatusOr<int64_t> revision = Revision(endpoints);
    const double commits = on_etcd.commits.commits - commits0;
    if (revision0.ok() && revision.ok() && commits > 0) {
      r.Add({on_etcd.Label(workload), "etcd transactions per commit",
             static_cast<double>(*revision - *revision0) / commits, "", std::nullopt, "", {}});
    }
  };
  // Each workload on semaphored, then on etcd's lock: the two meet the same disk
  // within seconds of each other.
  EtcdLockResults lock;
  if (options.w1) {
    on_semaphored("W1", [&] { return RunW1(on_etcd, options.duration); });
    NoteError(r, "W1 etcd-lock", RunEtcdLockW1(ctx, endpoints, options.duration, lock));
  }
  if (options.w2) {
    on_semaphored("W2", [&] { return RunW2(on_etcd, options.duration, options.w2_clients); });
    NoteError(r, "W2 etcd-lock",
              RunEtcdLockW2(ctx, endpoints, options.duration, options.w2_clients, lock));
  }
  if (options.w3) {
    on_semaphored("W3", [&] { return RunW3(on_etcd, options.duration, options.w3_clients); });
    NoteError(r, "W3 etcd-lock",
              RunEtcdLockW3(ctx, endpoints, options.duration, options.w3_clients, lock));
  }
  AddRatioRows(r, on_etcd, lock);
  if (const ServerGroup::Exits e = group.exits(); e.exited > 0) {
    r.Note(absl::StrCat("W1-W3 etcd: ", e.exited, " semaphored processes exited (", e.lease_lost,
                        " on losing their lease) and were started again"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RunEtcd(BenchContext& ctx, const EtcdBenchOptions& options) {
  const absl::Time start = absl::Now();
  ScratchDir dir;
  if (absl::Status s = dir.Make(ctx.scratch_dir, "etcd"); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<testing::EtcdCluster>> cluster =
      testing::EtcdCluster::Start(options.members, dir.path());
  if (!cluster.ok()) return cluster.status();
  const std::vector<std::string> endpoints = (*cluster)->endpoints();
  Report& r = *ctx.report;
  NoteError(r, "etcd floor", RunEtcdFloor(ctx, endpoints, absl::Seconds(1)));

  ServerGroupOptions group_options;
  group_options.binary = options.semaphored_binary;
  group_options.endpoints = endpoints;
  group_options.leader_lease_ttl = options.leader_lease_ttl;
  group_options.admin_token = RandomAdminToken();
  group_options.dir = dir.path();
  absl::StatusOr<std::unique_ptr<ServerGroup>> group =
      ServerGroup::Start(group_options, options.servers);
  if (!group.ok()) return group.status();
  if (options.w1 || options.w2 || options.w3) {
    NoteError(r, "W1-W3 etcd",
              RunWorkloads(ctx, **group, group_options.admin_token, endpoints, options));
  }
  if (options.failover) {
    NoteError(r, "failover etcd",
              RunEtcdFailover(ctx, **group, options.failover_repeats, options.leader_lease_ttl));
  }
  group->reset();
  cluster->reset();
  r.Note(absl::StrFormat(
      "etcd: %d members of /usr/bin/etcd (heartbeat 50 ms, election timeout 500 ms, "
      "fsync on) and %d semaphored processes (%s) on loopback, data in %s on %s; "
      "etcd-lock clients each have a lease of their own and talk to member i %% %d; "
      "semaphored releases a permit without awaiting the answer (W1 also prints "
      "Set+Clear, awaited), etcd-lock awaits Unlock; the etcd part took %.0f s",
      options.members, options.servers, options.semaphored_binary, dir.path(),
      FileSystemOf(dir.path()), options.members,
      absl::ToDoubleSeconds(absl::Now() - start)));
  return absl::OkStatus();
}

}  // namespace semaphored::bench
