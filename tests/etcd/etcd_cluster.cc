// EtcdCluster: etcd members as child processes on loopback ports.

#include "tests/etcd/etcd_cluster.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "store/etcd_client.h"
#include "tests/torture/process.h"

namespace semaphored::testing {
namespace {

constexpr char kEtcd[] = "/usr/bin/etcd";

}  // namespace

absl::StatusOr<int> FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return absl::InternalError("cannot bind a loopback port");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

absl::StatusOr<std::unique_ptr<EtcdCluster>> EtcdCluster::Start(
    int members, const std::string& dir, const std::string& also_listen_host) {
  if (access(kEtcd, X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(kEtcd, " is missing: run scripts/deps.sh (Debian's etcd-server)"));
  }
  std::unique_ptr<EtcdCluster> cluster(new EtcdCluster());
  cluster->also_listen_host_ = also_listen_host;
  cluster->token_ = absl::StrCat("semaphored-test-", getpid(), "-", absl::ToUnixNanos(absl::Now()));
  std::vector<std::string> initial;
  for (int i = 0; i < members; ++i) {
    absl::StatusOr<int> client = FreeLoopbackPort();
    if (!client.ok()) return client.status();
    absl::StatusOr<int> peer = FreeLoopbackPort();
    if (!peer.ok()) return peer.status();
    Member m;
    m.name = absl::StrCat("m", i);
    m.client = absl::StrCat("127.0.0.1:", *client);
    m.peer = absl::StrCat("127.0.0.1:", *peer);
    m.data_dir = absl::StrCat(dir, "/etcd-", i);
    m.log = absl::StrCat(dir, "/etcd-", i, ".log");
    initial.push_back(absl::StrCat(m.name, "=http://", m.peer));
    cluster->members_.push_back(std::move(m));
  }
  cluster->initial_cluster_ = absl::StrJoin(initial, ",");
  for (int i = 0; i < members; ++i) {
    if (absl::Status s = cluster->Launch(i, /*fresh=*/true); !s.ok()) return s;
  }
  for (int i = 0; i < members; ++i) {
    if (absl::Status s = cluster->AwaitReady(i, absl::Seconds(30)); !s.ok()) return s;
  }
  return cluster;
}

EtcdCluster::~EtcdCluster() {
  for (int i = 0; i < size(); ++i) Kill(i);
}

std::string EtcdCluster::endpoint_at(const std::string& host, int i) const {
  const std::string& client = members_[i].client;
  return absl::StrCat(host, client.substr(client.rfind(':')));
}

std::vector<std::string> EtcdCluster::endpoints() const {
  std::vector<std::string> out;
  for (const Member& m : members_) out.push_back(m.client);
  return out;
}

absl::Status EtcdCluster::Launch(int i, bool fresh) {
  Member& m = members_[i];
  std::vector<std::string> argv = {
      kEtcd,
      "--name", m.name,
      "--data-dir", m.data_dir,
      "--listen-client-urls",
      also_listen_host_.empty()
          ? "http://" + m.client
          : absl::StrCat("http://", m.client, ",http://", endpoint_at(also_listen_host_, i)),
      "--advertise-client-urls", "http://" + m.client,
      "--listen-peer-urls", "http://" + m.peer,
      "--initial-advertise-peer-urls", "http://" + m.peer,
      "--initial-cluster", initial_cluster_,
      "--initial-cluster-token", token_,
      "--initial-cluster-state", fresh ? "new" : "existing",
      "--heartbeat-interval", "50",
      "--election-timeout", "500",
      "--log-level", "warn",
      "--logger", "zap",
  };
  absl::StatusOr<pid_t> pid = torture::Spawn(argv, m.log);
  if (!pid.ok()) return pid.status();
  m.pid = *pid;
  return absl::OkStatus();
}

absl::Status EtcdCluster::AwaitReady(int i, absl::Duration timeout) const {
  const Member& m = members_[i];
  store::EtcdOptions options;
  options.endpoints = {m.client};
  options.call_timeout = absl::Milliseconds(500);
  const absl::Time deadline = absl::Now() + timeout;
  absl::Status last;
  while (absl::Now() < deadline) {
    if (torture::WaitForExit(m.pid, absl::ZeroDuration()).has_value()) {
      return absl::InternalError(absl::StrCat("etcd member ", m.name, " exited at start; see ",
                                              m.log));
    }
    // A new channel each time: one that found the port closed would wait out its
    // reconnect backoff.
    absl::StatusOr<std::unique_ptr<store::EtcdClient>> client =
        store::EtcdClient::Create(options);
    if (!client.ok()) return client.status();
    absl::StatusOr<etcdserverpb::StatusResponse> status = (*client)->Status(m.client);
    if (status.ok() && status->leader() != 0) return absl::OkStatus();
    last = status.ok() ? absl::UnavailableError("no leader yet") : status.status();
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError(absl::StrCat("etcd member ", m.name, " not ready within ",
                                                  absl::FormatDuration(timeout), ": ",
                                                  last.message(), "; see ", m.log));
}

void EtcdCluster::Kill(int i) {
  Member& m = members_[i];
  if (m.pid <= 0) return;
  torture::KillAndReap(m.pid);
  m.pid = -1;
}

absl::Status EtcdCluster::Restart(int i) {
  if (members_[i].pid > 0) return absl::FailedPreconditionError("the member is running");
  if (absl::Status s = Launch(i, /*fresh=*/false); !s.ok()) return s;
  return AwaitReady(i, absl::Seconds(30));
}

absl::StatusOr<int> EtcdCluster::Leader() const {
  store::EtcdOptions options;
  options.endpoints = endpoints();
  options.call_timeout = absl::Milliseconds(500);
  absl::StatusOr<std::unique_ptr<store::EtcdClient>> client = store::EtcdClient::Create(options);
  if (!client.ok()) return client.status();
  for (int i = 0; i < size(); ++i) {
    if (members_[i].pid <= 0) continue;
    absl::StatusOr<etcdserverpb::StatusResponse> status = (*client)->Status(members_[i].client);
    if (!status.ok()) continue;
    if (status->leader() == status->header().member_id()) return i;
  }
  return absl::UnavailableError("no etcd member says it is the leader");
}

}  // namespace semaphored::testing
