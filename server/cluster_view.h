#ifndef SEMAPHORED_SERVER_CLUSTER_VIEW_H_
#define SEMAPHORED_SERVER_CLUSTER_VIEW_H_

// This server's place among the servers that share its state, and what
// AdminService.GetCluster answers (the leader and a standby alike).
//
// A single server (no etcd) describes itself: one server, the leader, mode
// CLUSTER_MODE_SINGLE_SERVER. A server on etcd registers itself under
// <prefix>servers/<advertise address> (store/etcd_registration.h: a key on a lease of
// the leader lease's TTL, kept alive by a thread, whatever the server's role) and
// describes the cluster from etcd: the leader key's value, every registration (the
// role of each is LEADER when its address is the leader key's value, else STANDBY),
// and each etcd endpoint's Maintenance.Status. The etcd calls run on a thread of the
// view's own, never on the caller's: Describe returns at once, and calls that arrive
// while a description is being made share the next one.

#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "semaphored/v1/admin.pb.h"
#include "store/etcd_client.h"
#include "store/etcd_registration.h"

namespace semaphored::server {

class ClusterView {
 public:
  using Done = absl::AnyInvocable<void(absl::StatusOr<v1::GetClusterResponse>) &&>;

  // A single server at `address` (see SetAddress), started now.
  explicit ClusterView(std::string address);
  // A server on etcd, at `advertise`, started now: registers it under
  // `prefix`servers/`advertise` with a lease of `ttl` (in the background: etcd need
  // not answer yet).
  ClusterView(std::shared_ptr<store::EtcdClient> client, std::string prefix,
              std::string advertise, absl::Duration ttl);
  // Answers the descriptions still pending UNAVAILABLE "server is shutting down",
  // stops the thread and removes the registration. Blocks for at most about the
  // etcd calls under way.
  ~ClusterView();
  ClusterView(const ClusterView&) = delete;
  ClusterView& operator=(const ClusterView&) = delete;

  // A single server: its address once the port is bound (until then the listen
  // address is shown). Thread-safe.
  void SetAddress(std::string address) ABSL_LOCKS_EXCLUDED(mu_);
  // This server now leads: its role when etcd cannot be read. Thread-safe.
  void SetLeading() ABSL_LOCKS_EXCLUDED(mu_);

  // Calls `done` once with the description: at once on a single server, else from
  // the view's thread once etcd has answered or timed out (each etcd call is bounded
  // by the client's call timeout). Never fails but when the view is being destroyed
  // (UNAVAILABLE): when etcd cannot be read the answer says so (etcd_error, and
  // every endpoint's error). Thread-safe; never blocks.
  void Describe(Done done) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Work() ABSL_LOCKS_EXCLUDED(mu_);
  v1::GetClusterResponse DescribeSingle() const ABSL_LOCKS_EXCLUDED(mu_);
  v1::GetClusterResponse DescribeFromEtcd() const ABSL_LOCKS_EXCLUDED(mu_);

  const std::shared_ptr<store::EtcdClient> client_;  // nullptr: a single server
  const std::string prefix_;
  const absl::Time start_time_;
  std::unique_ptr<store::EtcdRegistration> registration_;
  mutable absl::Mutex mu_;
  // State below is protected by mu_.
  std::string address_ ABSL_GUARDED_BY(mu_);
  bool leading_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<Done> pending_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;  // on etcd only
};

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_CLUSTER_VIEW_H_
