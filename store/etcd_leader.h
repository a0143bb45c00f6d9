#ifndef SEMAPHORED_STORE_ETCD_LEADER_H_
#define SEMAPHORED_STORE_ETCD_LEADER_H_

// One leader among the servers that share an etcd prefix: etcd's election recipe on a
// lease. A candidate grants itself a lease and creates the leader key with it only if
// the key does not exist (a transaction comparing its create revision with 0). The
// key's value is the leader's client address, which the others send clients to; its
// create revision guards every write of the leader's store (see EtcdGuard), so a
// deposed leader can never write. The leader keeps its lease alive on a thread of its
// own; when etcd stops answering, or a pause (SIGSTOP, a VM freeze) outlasts the lease,
// etcd deletes the key and another candidate takes over.
//
// By its own clock the leader knows a lower bound of its lease: a keepalive sent at
// local time S and answered with TTL T keeps the lease at etcd until at least S + T
// (etcd counts from when it got the keepalive, later than S). Valid() is true only
// before that bound, less a margin for clock drift: a leader answers nothing once it is
// false, even before it hears anything from etcd.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "store/etcd_client.h"
#include "store/etcd_store.h"

namespace semaphored::store {

struct EtcdLeaderOptions {
  // The leader key (e.g. "/semaphored/leader").
  std::string key;
  // This server's client address (what other servers send clients to).
  std::string value;
  // The lease's TTL: how long a dead leader keeps the role. etcd raises a TTL below
  // its minimum (about 1.5 x its election timeout).
  absl::Duration ttl = absl::Seconds(5);
};

class EtcdLeader {
 public:
  // What one attempt found.
  struct Attempt {
    bool leading = false;
    EtcdGuard guard;     // when leading: the key and its create revision
    std::string leader;  // when not: the leader's value ("" when there is none)
  };

  EtcdLeader(std::shared_ptr<EtcdClient> client, EtcdLeaderOptions options);
  // Resigns when leading (the key goes at once, so a successor need not wait out
  // the lease), and stops the keepalive thread.
  ~EtcdLeader();
  EtcdLeader(const EtcdLeader&) = delete;
  EtcdLeader& operator=(const EtcdLeader&) = delete;

  // One attempt to become the leader: grants this candidate's lease (once), then
  // creates the key with it if there is none. When it leads, the keepalive thread
  // starts and `on_lost` (set before) is called once, from that thread, when Valid()
  // becomes false for good.
  absl::StatusOr<Attempt> TryLead() ABSL_LOCKS_EXCLUDED(mu_);
  // Whether this server leads and, by its own clock, its lease is certainly alive.
  bool Valid() const ABSL_LOCKS_EXCLUDED(mu_);
  // Called once when leadership is lost (the lease may have lapsed, or etcd says it
  // is gone). Set before TryLead.
  void SetOnLost(std::function<void(const absl::Status&)> on_lost);
  // Ends the lease (and so the key) now. Idempotent.
  void Resign() ABSL_LOCKS_EXCLUDED(mu_);

  // For tests: stops sending keepalives (as a paused or cut-off leader would).
  void PauseKeepAlivesForTest() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void KeepAlive() ABSL_LOCKS_EXCLUDED(mu_);
  bool ValidLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return leading_ && !lost_ && absl::Now() < valid_until_;
  }
  void Lose(const absl::Status& why) ABSL_LOCKS_EXCLUDED(mu_);

  const std::shared_ptr<EtcdClient> client_;
  const EtcdLeaderOptions options_;
  std::function<void(const absl::Status&)> on_lost_;
  mutable absl::Mutex mu_;
  int64_t lease_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration granted_ttl_ ABSL_GUARDED_BY(mu_);
  bool leading_ ABSL_GUARDED_BY(mu_) = false;
  bool lost_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time valid_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Status lost_status_ ABSL_GUARDED_BY(mu_);  // what etcd said, when it said it
  std::thread keepalive_;
};

}  // namespace semaphored::store

#endif  // SEMAPHORED_STORE_ETCD_LEADER_H_
