#ifndef SEMAPHORED_SERVER_LEADERSHIP_H_
#define SEMAPHORED_SERVER_LEADERSHIP_H_

// Several servers on one etcd cluster (--etcd_endpoints): what a server does before it
// serves. It campaigns for the leader key (store/etcd_leader.h); until it leads it
// serves only a StandbyServer on its address, which tells every caller where the
// leader is. Once it leads it serves as usual, on the same port, with its state in the
// etcd store under <prefix>state/, every write guarded by its leadership and no answer
// given once its lease may have lapsed by its own clock. A leader that loses its lease
// exits (code 5): its supervisor (Docker's restart policy, systemd) starts it again as
// a standby, and another server has taken over.

#include <csignal>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/observability/logger.h"
#include "server/server.h"
#include "store/etcd_leader.h"

namespace semaphored::server {

struct EtcdServerOptions {
  std::vector<std::string> endpoints;  // empty: not on etcd
  std::string prefix = "/semaphored/";
  // The address other servers send clients to; empty: the listen address.
  std::string advertise;
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  // How long a dead leader keeps the role: the failover takes about this plus half a
  // second (etcd's expiry check, the successor's poll). etcd's shortest is 1.5 s.
  absl::Duration lease_ttl = absl::Seconds(2);
};

// The exit code of a leader that lost its lease.
inline constexpr int kLeadershipLostExit = 5;

// Registers this server in etcd (ClusterView, set as options->cluster: the
// registration lasts as long as the options or the server they start) and campaigns
// until this server leads, serving a StandbyServer meanwhile (`on_listening` is called
// with its port once it listens; its GetCluster uses `options`' admin token and
// `logger`, which must outlive the call). Then sets `options` up for the leader (the
// listen port the standby had, the guarded etcd store, the answer gate) and returns
// the leadership, which must outlive the server. Returns nullptr when one of
// `signals` (blocked by the caller) arrived first: exit 0. Errors: bad options
// (INVALID_ARGUMENT), or the address cannot be listened on.
absl::StatusOr<std::unique_ptr<store::EtcdLeader>> LeadOrStandBy(
    const EtcdServerOptions& etcd, ServerOptions* options, const sigset_t& signals,
    const Logger& logger, const std::function<absl::Status(int port)>& on_listening);

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_LEADERSHIP_H_
