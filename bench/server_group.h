#ifndef SEMAPHORED_BENCH_SERVER_GROUP_H_
#define SEMAPHORED_BENCH_SERVER_GROUP_H_

// Several `semaphored` processes (the real binary, as users run it) sharing one etcd
// cluster: one leads and serves, the others stand by. Each listens on a loopback port
// picked before it starts (a server on etcd advertises its address, so the port must be
// known), reports it through --port_file, serves its metrics on another loopback port,
// and logs to a file in the group's directory. Every process is started and stopped by
// its pid.

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace semaphored::bench {

struct ServerGroupOptions {
  std::string binary;                  // the semaphored executable
  std::vector<std::string> endpoints;  // etcd members, HOST:PORT
  std::string prefix = "/semaphored_bench/";
  // --leader_lease_ttl; empty: the server's default.
  std::string leader_lease_ttl;
  std::string admin_token;             // given through --admin_token_file (mode 0600)
  std::string dir;                     // logs, port files and the token file go here
};

// Supervised as a deployment's supervisor would (Docker's restart policy, systemd's
// Restart=always): a thread starts again, on its port, every server that exits or is
// killed, within 20 ms. A leader that loses its lease exits (code 5) to rejoin as a
// standby, so that is part of failing over. Thread-safe.
class ServerGroup {
 public:
  // Starts `servers` processes, the first alone (so that it leads), and returns once
  // each has written its port file (it listens: as the leader or as a standby); then
  // supervises them.
  static absl::StatusOr<std::unique_ptr<ServerGroup>> Start(const ServerGroupOptions& options,
                                                            int servers);
  // Stops supervising, then SIGKILLs and reaps every process still running.
  ~ServerGroup();
  ServerGroup(const ServerGroup&) = delete;
  ServerGroup& operator=(const ServerGroup&) = delete;

  int size() const { return static_cast<int>(members_.size()); }
  // "127.0.0.1:PORT" of server `i`.
  const std::string& address(int i) const { return members_[i].address; }
  // Every server's address, comma-separated: a client library's address list.
  std::string addresses() const;
  // Server `i`'s Prometheus metrics page (--metrics_address, a loopback port of its
  // own), read over HTTP with a 5 s bound; UNAVAILABLE when it cannot be read.
  absl::StatusOr<std::string> MetricsPage(int i) const;

  // The server that etcd's leader key names, and the key's create revision (a new one
  // at each election).
  struct Leader {
    int index = -1;
    int64_t revision = 0;
  };
  // The leader, once the key exists with a create revision above `newer_than` (polled
  // every 10 ms, up to `timeout`: DEADLINE_EXCEEDED). The leader writes the key before
  // it restores the state and serves.
  absl::StatusOr<Leader> AwaitLeader(absl::Duration timeout, int64_t newer_than = 0) const;
  // SIGKILLs server `i` and reaps it; the supervisor starts it again.
  void Kill(int i) ABSL_LOCKS_EXCLUDED(mu_);

  // What the supervisor saw: servers that exited on their own (not killed by Kill),
  // those of them with code 5 (a leader that lost its lease), and restarts.
  struct Exits {
    int exited = 0;
    int lease_lost = 0;
    int restarts = 0;
  };
  Exits exits() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Member {
    std::string address;  // 127.0.0.1:PORT
    int metrics_port = 0;
    std::string port_file;
    std::string log;
  };
  explicit ServerGroup(ServerGroupOptions options) : options_(std::move(options)) {}
  // Starts server `i` (not waiting for it to listen).
  absl::Status Spawn(int i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Waits for server `i`'s port file, or its exit.
  absl::Status AwaitListening(int i) ABSL_LOCKS_EXCLUDED(mu_);
  // The supervisor thread's loop.
  void Supervise() ABSL_LOCKS_EXCLUDED(mu_);

  const ServerGroupOptions options_;
  std::string token_file_;
  std::vector<Member> members_;  // set up by Start, then unchanged
  std::thread supervisor_;

  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<pid_t> pids_ ABSL_GUARDED_BY(mu_);  // per member; -1: not running
  Exits exits_ ABSL_GUARDED_BY(mu_);
};

}  // namespace semaphored::bench

#endif  // SEMAPHORED_BENCH_SERVER_GROUP_H_
