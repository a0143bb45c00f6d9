// ServerGroup: semaphored processes on one etcd cluster, started and killed by pid.

#include "server_group.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "server/leadership.h"
#include "store/etcd_client.h"
#include "tests/etcd/etcd_cluster.h"
#include "tests/torture/process.h"

namespace semaphored::bench {
namespace {

// How long a server may take to write its port file.
constexpr absl::Duration kStartTimeout = absl::Seconds(20);
// How often the supervisor looks for servers that are down.
constexpr absl::Duration kSuperviseInterval = absl::Milliseconds(20);


// The port in `path`, or 0 when the file is missing or not (yet) a number.
int ReadPort(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  int port = 0;
  if (!in || !absl::SimpleAtoi(absl::StripAsciiWhitespace(text.str()), &port)) return 0;
  return port;
}

// Writes `text` to `path`, readable by its owner only (the server refuses a token file
// others may read).
absl::Status WritePrivateFile(const std::string& path, const std::string& text) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot write ", path));
  const bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  if (!written) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerGroup>> ServerGroup::Start(
    const ServerGroupOptions& options, int servers) {
  if (access(options.binary.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot execute the semaphored binary ", options.binary,
        " (build the semaphored target, or give --semaphored_binary)"));
  }
  std::unique_ptr<ServerGroup> group(new ServerGroup(options));
  group->token_file_ = options.dir + "/admin_token";
  if (absl::Status s = WritePrivateFile(group->token_file_, options.admin_token + "\n");
      !s.ok()) {
    return s;
  }
  for (int i = 0; i < servers; ++i) {
    absl::StatusOr<int> port = testing::FreeLoopbackPort();
    if (!port.ok()) return port.status();
    absl::StatusOr<int> metrics_port = testing::FreeLoopbackPort();
    if (!metrics_port.ok()) return metrics_port.status();
    Member m;
    m.address = absl::StrCat("127.0.0.1:", *port);
    m.metrics_port = *metrics_port;
    m.port_file = absl::StrCat(options.dir, "/server-", i, ".port");
    m.log = absl::StrCat(options.dir, "/server-", i, ".log");
    group->members_.push_back(std::move(m));
  }
  ServerGroup* const g = group.get();
  {
    absl::MutexLock lock(&g->mu_);
    g->pids_.assign(servers, -1);
  }
  // One at a time: the first one leads.
  for (int i = 0; i < servers; ++i) {
    {
      absl::MutexLock lock(&g->mu_);
      if (absl::Status s = g->Spawn(i); !s.ok()) return s;
    }
    if (absl::Status s = g->AwaitListening(i); !s.ok()) return s;
  }
  g->supervisor_ = std::thread([g] { g->Supervise(); });
  return group;
}

ServerGroup::~ServerGroup() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (supervisor_.joinable()) supervisor_.join();
  absl::MutexLock lock(&mu_);
  for (pid_t& pid : pids_) {
    if (pid > 0) torture::KillAndReap(pid);
    pid = -1;
  }
}

std::string ServerGroup::addresses() const {
  std::vector<std::string> out;
  for (const Member& m : members_) out.push_back(m.address);
  return absl::StrJoin(out, ",");
}

absl::Status ServerGroup::Spawn(int i) {
  const Member& m = members_[i];
  unlink(m.port_file.c_str());
  std::vector<std::string> argv = {
      options_.binary,
      "--listen=" + m.address,
      "--port_file=" + m.port_file,
      "--etcd_endpoints=" + absl::StrJoin(options_.endpoints, ","),
      "--etcd_prefix=" + options_.prefix,
      "--admin_token_file=" + token_file_,
      absl::StrCat("--metrics_address=127.0.0.1:", m.metrics_port),
      // No state file (the state is in etcd) and no admin socket (the group's servers
      // would share its default path).
      "--state_file=",
      "--admin_socket=",
      // Every client of the benchmark comes from this host.
      "--max_sessions_per_peer=0",
      "--session_rate_per_peer=0",
  };
  if (!options_.leader_lease_ttl.empty()) {
    argv.push_back("--leader_lease_ttl=" + options_.leader_lease_ttl);
  }
  absl::StatusOr<pid_t> pid = torture::Spawn(argv, m.log);
  if (!pid.ok()) return pid.status();
  pids_[i] = *pid;
  return absl::OkStatus();
}

absl::Status ServerGroup::AwaitListening(int i) {
  const Member& m = members_[i];
  const absl::Time give_up = absl::Now() + kStartTimeout;
  while (ReadPort(m.port_file) == 0) {
    {
      absl::MutexLock lock(&mu_);
      if (torture::WaitForExit(pids_[i], absl::ZeroDuration()).has_value()) {
        pids_[i] = -1;
        return absl::UnavailableError(
            absl::StrCat("semaphored ", m.address, " exited at start; see ", m.log));
      }
    }
    if (absl::Now() > give_up) {
      return absl::DeadlineExceededError(absl::StrCat(
          "semaphored ", m.address, " did not listen within ",
          absl::FormatDuration(kStartTimeout), "; see ", m.log));
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  return absl::OkStatus();
}

void ServerGroup::Supervise() {
  absl::MutexLock lock(&mu_);
  while (!stop_) {
    for (int i = 0; i < size(); ++i) {
      if (pids_[i] > 0) {
        const std::optional<int> status = torture::WaitForExit(pids_[i], absl::ZeroDuration());
        if (!status.has_value()) continue;
        pids_[i] = -1;
        ++exits_.exited;
        if (WIFEXITED(*status) && WEXITSTATUS(*status) == server::kLeadershipLostExit) {
          ++exits_.lease_lost;
        }
      }
      // Down (exited, or killed by Kill): up again, as a standby.
      if (Spawn(i).ok()) ++exits_.restarts;
    }
    mu_.AwaitWithTimeout(absl::Condition(&stop_), kSuperviseInterval);
  }
}

absl::StatusOr<std::string> ServerGroup::MetricsPage(int i) const {
  const Member& m = members_[i];
  const std::string where = absl::StrCat("metrics of ", m.address, " at 127.0.0.1:",
                                         m.metrics_port);
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError(absl::StrCat(where, ": socket() failed"));
  const timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(m.metrics_port));
  std::string response;
  const std::string request = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0 &&
      send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    char buf[16384];
    // HTTP/1.0: the server closes the connection after the page.
    for (ssize_t n; (n = recv(fd, buf, sizeof(buf), 0)) > 0;) response.append(buf, n);
  }
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.", 0) != 0 || response.find(" 200 ") == std::string::npos ||
      body == std::string::npos) {
    return absl::UnavailableError(absl::StrCat(where, ": no page"));
  }
  return response.substr(body + 4);
}

absl::StatusOr<ServerGroup::Leader> ServerGroup::AwaitLeader(absl::Duration timeout,
                                                             int64_t newer_than) const {
  store::EtcdOptions etcd;
  etcd.endpoints = options_.endpoints;
  etcd.call_timeout = absl::Seconds(1);
  absl::StatusOr<std::unique_ptr<store::EtcdClient>> client = store::EtcdClient::Create(etcd);
  if (!client.ok()) return client.status();
  etcdserverpb::RangeRequest request;
  request.set_key(options_.prefix + "leader");
  const absl::Time give_up = absl::Now() + timeout;
  std::string seen;
  while (true) {
    absl::StatusOr<etcdserverpb::RangeResponse> range = (*client)->Range(request);
    if (range.ok() && range->kvs_size() == 1 && range->kvs(0).create_revision() > newer_than) {
      seen = range->kvs(0).value();
      for (int i = 0; i < size(); ++i) {
        if (members_[i].address == seen) return Leader{i, range->kvs(0).create_revision()};
      }
    }
    if (absl::Now() > give_up) {
      return absl::DeadlineExceededError(absl::StrCat(
          "no semaphored leader within ", absl::FormatDuration(timeout),
          newer_than > 0 ? absl::StrCat(" after revision ", newer_than) : "",
          seen.empty() ? "" : absl::StrCat(" (the leader key names ", seen, ")")));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
}

void ServerGroup::Kill(int i) {
  absl::MutexLock lock(&mu_);
  if (pids_[i] <= 0) return;
  torture::KillAndReap(pids_[i]);
  pids_[i] = -1;
}

ServerGroup::Exits ServerGroup::exits() const {
  absl::MutexLock lock(&mu_);
  return exits_;
}

}  // namespace semaphored::bench
