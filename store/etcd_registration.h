#ifndef SEMAPHORED_STORE_ETCD_REGISTRATION_H_
#define SEMAPHORED_STORE_ETCD_REGISTRATION_H_

// A key that says "this process is alive": put on a lease of its own, which a thread
// keeps alive. It is how each server on etcd, leader or standby, shows itself to the
// others (server/cluster_view.h): the key goes when the process stops (the lease is
// revoked) or within the lease's TTL when it dies, freezes or is cut off from etcd.
// When etcd says the lease is gone (it was cut off longer than the TTL), a new lease
// is granted and the key put again; while etcd does not answer, it keeps trying.
//
// Unlike the leader's lease (etcd_leader.h), nothing depends on this one being alive
// at a given instant: it only shows who is there, so it has no own-clock bound.

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "store/etcd_client.h"

namespace semaphored::store {

struct EtcdRegistrationOptions {
  // The key (e.g. "/semaphored/servers/10.0.0.1:50051"); a key already there is
  // overwritten (a restarted process takes its predecessor's key over).
  std::string key;
  // Its value.
  std::string value;
  // The lease's TTL (etcd raises one below its minimum).
  absl::Duration ttl = absl::Seconds(5);
};

class EtcdRegistration {
 public:
  // Starts the thread that puts the key and keeps its lease alive; returns at once.
  EtcdRegistration(std::shared_ptr<EtcdClient> client, EtcdRegistrationOptions options);
  // Stops the thread and revokes the lease (the key goes at once; if etcd does not
  // answer, when the lease lapses). Blocks for at most about two etcd calls.
  ~EtcdRegistration();
  EtcdRegistration(const EtcdRegistration&) = delete;
  EtcdRegistration& operator=(const EtcdRegistration&) = delete;

  // OK while the key is put and its last keepalive was answered; else the last
  // error (UNAVAILABLE while etcd does not answer). Thread-safe.
  absl::Status status() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  // Grants a lease and puts the key on it; the lease, or the error.
  absl::StatusOr<int64_t> Register();

  const std::shared_ptr<EtcdClient> client_;
  const EtcdRegistrationOptions options_;
  mutable absl::Mutex mu_;
  // State below is protected by mu_.
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  int64_t lease_ ABSL_GUARDED_BY(mu_) = 0;  // 0: not registered
  absl::Status status_ ABSL_GUARDED_BY(mu_) =
      absl::UnavailableError("not registered yet");
  std::thread thread_;  // last: started once the rest is set
};

}  // namespace semaphored::store

#endif  // SEMAPHORED_STORE_ETCD_REGISTRATION_H_
