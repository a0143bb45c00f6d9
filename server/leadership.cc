// LeadOrStandBy: the campaign of a server on etcd, serving a standby meanwhile.

#include "server/leadership.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/cluster_view.h"
#include "server/standby_server.h"
#include "store/etcd_client.h"
#include "store/etcd_store.h"

namespace semaphored::server {
namespace {

// HOST of HOST:PORT; the port, or -1.
std::pair<std::string, int> SplitHostPort(const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port)) {
    return {address, -1};
  }
  return {address.substr(0, colon), port};
}

// Waits up to `timeout` for one of `signals`; whether one came.
bool AwaitSignal(const sigset_t& signals, absl::Duration timeout) {
  const timespec wait = absl::ToTimespec(timeout);
  return sigtimedwait(&signals, nullptr, &wait) > 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<store::EtcdLeader>> LeadOrStandBy(
    const EtcdServerOptions& etcd, ServerOptions* options, const sigset_t& signals,
    const Logger& logger, const std::function<absl::Status(int port)>& on_listening) {
  if (!options->data_dir.empty()) {
    return absl::InvalidArgumentError(
        "--etcd_endpoints and --data_dir exclude each other: the state is in etcd");
  }
  if (etcd.prefix.empty() || etcd.prefix[0] != '/' || etcd.prefix.back() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("--etcd_prefix '", etcd.prefix, "' must start and end with '/'"));
  }
  if (etcd.lease_ttl < absl::Seconds(1) || etcd.lease_ttl > absl::Minutes(5)) {
    return absl::InvalidArgumentError("--leader_lease_ttl must be from 1s to 5m");
  }
  std::string advertise = etcd.advertise.empty() ? options->listen_address : etcd.advertise;
  const auto [advertise_host, advertise_port] = SplitHostPort(advertise);
  if (advertise_port <= 0 || advertise_port > 65535 || advertise_host.empty() ||
      advertise_host == "0.0.0.0" || advertise_host == "[::]") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--advertise '", advertise, "' is not an address clients can reach (HOST:PORT, a "
        "port 1-65535, not 0.0.0.0): set --advertise to this server's client address"));
  }
  store::EtcdOptions client_options;
  client_options.endpoints = etcd.endpoints;
  client_options.tls_ca = etcd.tls_ca;
  client_options.tls_cert = etcd.tls_cert;
  client_options.tls_key = etcd.tls_key;
  client_options.call_timeout = std::min(absl::Seconds(5), etcd.lease_ttl / 3);
  absl::StatusOr<std::unique_ptr<store::EtcdClient>> created =
      store::EtcdClient::Create(client_options);
  if (!created.ok()) return created.status();
  std::shared_ptr<store::EtcdClient> client(*std::move(created));

  store::EtcdLeaderOptions leader_options;
  leader_options.key = etcd.prefix + "leader";
  leader_options.value = advertise;
  leader_options.ttl = etcd.lease_ttl;
  auto leader = std::make_unique<store::EtcdLeader>(client, leader_options);
  // Registered (every role) from now on, until the server stops: see ClusterView.
  auto cluster = std::make_shared<ClusterView>(client, etcd.prefix, advertise, etcd.lease_ttl);
  options->cluster = cluster;

  leader->SetOnLost([](const absl::Status& why) {
    // Nothing more may be answered (the gate already refuses): leave now, without a
    // drain that would answer calls in flight.
    std::fprintf(stderr, "semaphored: leadership lost: %s; exiting (%d) to rejoin as a standby\n",
                 std::string(why.message()).c_str(), kLeadershipLostExit);
    std::fflush(stderr);
    _exit(kLeadershipLostExit);
  });

  std::unique_ptr<StandbyServer> standby;
  std::string shown_leader = "?";
  std::string shown_problem;
  const absl::Duration poll = std::min(absl::Milliseconds(250), etcd.lease_ttl / 4);
  store::EtcdGuard guard;
  for (;;) {
    absl::StatusOr<store::EtcdLeader::Attempt> attempt = leader->TryLead();
    if (attempt.ok() && attempt->leading) {
      guard = attempt->guard;
      break;
    }
    if (standby == nullptr) {
      StandbyOptions standby_options;
      standby_options.address = options->listen_address;
      standby_options.tls = options->tls;
      standby_options.admin.admin_token = options->admin_token;
      standby_options.admin.throttle = options->admin_throttle;
      standby_options.admin.logger = &logger;
      standby_options.cluster = cluster.get();
      absl::StatusOr<std::unique_ptr<StandbyServer>> started =
          StandbyServer::Start(std::move(standby_options));
      if (!started.ok()) return started.status();
      standby = *std::move(started);
      if (absl::Status s = on_listening(standby->port()); !s.ok()) return s;
    }
    const std::string leader_now = attempt.ok() ? attempt->leader : "";
    const std::string problem = attempt.ok() ? "" : std::string(attempt.status().message());
    standby->SetLeader(leader_now, problem);
    if (leader_now != shown_leader || problem != shown_problem) {
      logger.Log(problem.empty() ? LogLevel::kInfo : LogLevel::kWarn, "standby",
                 {{"port", static_cast<uint64_t>(standby->port())},
                  {"leader", leader_now},
                  {"etcd_problem", problem}});
      shown_leader = leader_now;
      shown_problem = problem;
    }
    if (AwaitSignal(signals, poll)) return nullptr;
  }
  if (standby != nullptr) {
    // The leader serves on the port the standby had (chosen by the kernel for port 0).
    const auto [host, port] = SplitHostPort(options->listen_address);
    options->listen_address = absl::StrCat(host, ":", standby->port());
    standby.reset();
  }
  cluster->SetLeading();
  logger.Log(LogLevel::kInfo, "leader_elected",
             {{"advertise", advertise},
              {"leader_key", guard.key},
              {"revision", static_cast<uint64_t>(guard.create_revision)}});
  store::EtcdStoreOptions store_options;
  store_options.etcd = client_options;
  store_options.prefix = etcd.prefix + "state/";
  store_options.commit_timeout = etcd.lease_ttl;
  options->open_store = [store_options, client, guard]()
      -> absl::StatusOr<std::unique_ptr<engine::Store>> {
    absl::StatusOr<std::unique_ptr<store::EtcdStore>> store =
        store::EtcdStore::Open(store_options, client);
    if (!store.ok()) return store.status();
    (*store)->SetGuard(guard);
    return std::unique_ptr<engine::Store>(*std::move(store));
  };
  store::EtcdLeader* const gate = leader.get();
  options->core.may_answer = [gate] { return gate->Valid(); };
  return leader;
}

}  // namespace semaphored::server
