#ifndef SEMAPHORED_TESTS_ETCD_ETCD_CLUSTER_H_
#define SEMAPHORED_TESTS_ETCD_ETCD_CLUSTER_H_

// A real etcd cluster for tests: members of Debian's etcd (/usr/bin/etcd) on loopback
// ports, each with its own data dir under a scratch directory, started as child
// processes and stopped by pid. Elections are fast (heartbeat 50 ms, election timeout
// 500 ms) so that fault tests stay short; fsync stays on.

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace semaphored::testing {

// A loopback port nobody listens on now (the kernel's pick for a socket bound to port
// 0); another process could take it before the caller does.
absl::StatusOr<int> FreeLoopbackPort();

class EtcdCluster {
 public:
  // Starts `members` members (1 or 3, typically) and waits until every one answers.
  // Their logs go to <dir>/etcd-<i>.log. With `also_listen_host` (a test's own veth
  // address), clients can also reach member i at endpoint_at(also_listen_host, i).
  static absl::StatusOr<std::unique_ptr<EtcdCluster>> Start(
      int members, const std::string& dir, const std::string& also_listen_host = "");
  // Kills every member still running (SIGKILL) and reaps it.
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  int size() const { return static_cast<int>(members_.size()); }
  // "127.0.0.1:PORT" of member `i`'s client URL; all of them.
  const std::string& endpoint(int i) const { return members_[i].client; }
  std::vector<std::string> endpoints() const;
  // "HOST:PORT": member `i`'s client port on another address it listens on.
  std::string endpoint_at(const std::string& host, int i) const;
  pid_t pid(int i) const { return members_[i].pid; }

  // SIGKILLs member `i` and reaps it.
  void Kill(int i);
  // Starts member `i` again on its data dir (after Kill) and waits until it answers.
  absl::Status Restart(int i);
  // The index of the member that is etcd's Raft leader, or an error when none answers.
  absl::StatusOr<int> Leader() const;

 private:
  struct Member {
    std::string name;
    std::string client;  // 127.0.0.1:PORT
    std::string peer;    // 127.0.0.1:PORT
    std::string data_dir;
    std::string log;
    pid_t pid = -1;
  };
  EtcdCluster() = default;
  absl::Status Launch(int i, bool fresh);
  absl::Status AwaitReady(int i, absl::Duration timeout) const;

  std::string also_listen_host_;
  std::string initial_cluster_;
  std::string token_;
  std::vector<Member> members_;
};

}  // namespace semaphored::testing

#endif  // SEMAPHORED_TESTS_ETCD_ETCD_CLUSTER_H_
