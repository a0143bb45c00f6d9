// AdminService.GetCluster, `semctl cluster` and health by role, on real servers (the
// binary) sharing a real 3-member etcd on loopback: every server, leader or standby,
// describes the same cluster (its servers with their roles, each etcd endpoint's
// health); a SIGKILLed leader leaves the list once its registration's lease lapses and
// the new leader is shown; a killed etcd member shows as unreachable; health is
// SERVING on the leader and on a standby that reaches etcd, NOT_SERVING on a server
// that cannot, and only the leader serves semaphored.v1.SemaphoreService.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "semaphored/v1/admin.grpc.pb.h"
#include "tests/common/status_matchers.h"
#include "tests/etcd/etcd_cluster.h"
#include "tests/faults/server_child.h"

namespace semaphored {
namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::semaphored::testing::EtcdCluster;
using ::semaphored::testing::FreeLoopbackPort;
using ::semaphored::testing::IsOk;
using ::semaphored::testing::ScratchDir;
using ::semaphored::testing::ServerChild;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

constexpr absl::Duration kLease = absl::Seconds(2);
constexpr char kToken[] = "0123456789abcdef0123456789abcdef";
constexpr char kSemaphoreService[] = "semaphored.v1.SemaphoreService";
// Bounds every wait for the cluster to show a change.
constexpr absl::Duration kSettle = absl::Seconds(20);

std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
  return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
}

std::unique_ptr<grpc::ClientContext> Context(const std::string& token = kToken) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  if (!token.empty()) context->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  return context;
}

grpc::Status GetCluster(const std::string& address, v1::GetClusterResponse* cluster,
                        const std::string& token = kToken) {
  return v1::AdminService::NewStub(Channel(address))->GetCluster(Context(token).get(), {},
                                                                  cluster);
}

// A health Check of `service`, and the answer's trailing metadata `semaphored-*`.
struct HealthAnswer {
  grpc::Status status;
  HealthCheckResponse::ServingStatus serving = HealthCheckResponse::UNKNOWN;
  std::string role, leader, etcd_error;
};

HealthAnswer CheckHealth(const std::string& address, const std::string& service = "") {
  HealthCheckRequest request;
  request.set_service(service);
  HealthCheckResponse response;
  std::unique_ptr<grpc::ClientContext> context = Context("");
  HealthAnswer answer;
  answer.status = Health::NewStub(Channel(address))->Check(context.get(), request, &response);
  answer.serving = response.status();
  const auto& trailers = context->GetServerTrailingMetadata();
  auto get = [&](const char* key) {
    auto it = trailers.find(key);
    return it == trailers.end() ? std::string()
                                : std::string(it->second.data(), it->second.size());
  };
  answer.role = get("semaphored-role");
  answer.leader = get("semaphored-leader");
  answer.etcd_error = get("semaphored-etcd-error");
  return answer;
}

// The addresses and roles of a description's servers, as "ADDRESS=ROLE" in its order.
std::vector<std::string> Roles(const v1::GetClusterResponse& cluster) {
  std::vector<std::string> roles;
  for (const v1::ClusterServer& s : cluster.servers()) {
    roles.push_back(absl::StrCat(s.address(), "=", v1::ServerRole_Name(s.role())));
  }
  return roles;
}

// Asks `address` until its description satisfies `done` or kSettle passes; the last
// description.
template <typename Done>
v1::GetClusterResponse AwaitCluster(const std::string& address, Done done) {
  v1::GetClusterResponse cluster;
  const absl::Time deadline = absl::Now() + kSettle;
  do {
    cluster.Clear();
    if (GetCluster(address, &cluster).ok() && done(cluster)) break;
    absl::SleepFor(absl::Milliseconds(100));
  } while (absl::Now() < deadline);
  return cluster;
}

// semctl's exit code and what it printed (stdout and stderr together).
struct SemctlRun {
  int exit_code = -1;
  std::string output;
};

// Runs semctl with `args`, killing it (by pid) if it runs past 30 s.
SemctlRun Semctl(const std::vector<std::string>& args) {
  SemctlRun run;
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return run;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(out[1], 2);
    std::vector<char*> argv = {const_cast<char*>(SEMCTL_BINARY)};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(SEMCTL_BINARY, argv.data());
    _exit(127);
  }
  close(out[1]);
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  char buffer[4096];
  for (;;) {
    pollfd p{out[0], POLLIN, 0};
    const int left = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (left <= 0 || poll(&p, 1, left) <= 0) break;
    const ssize_t n = read(out[0], buffer, sizeof(buffer));
    if (n <= 0) break;
    run.output.append(buffer, static_cast<size_t>(n));
  }
  close(out[0]);
  if (absl::Now() >= deadline) kill(pid, SIGKILL);
  int status = 0;
  if (waitpid(pid, &status, 0) == pid && WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  return run;
}

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<EtcdCluster>> cluster = EtcdCluster::Start(3, dir_.path());
    ASSERT_THAT(cluster.status(), IsOk());
    etcd_ = *std::move(cluster);
  }
  std::string Dir(const std::string& name) {
    const std::string dir = dir_.File(name);
    EXPECT_EQ(mkdir(dir.c_str(), 0700), 0) << dir;
    return dir;
  }
  // A server on `endpoints` (default: the whole etcd cluster).
  absl::StatusOr<std::unique_ptr<ServerChild>> StartServer(const std::string& name,
                                                           std::string endpoints = "") {
    if (endpoints.empty()) {
      for (const std::string& e : etcd_->endpoints()) {
        absl::StrAppend(&endpoints, endpoints.empty() ? "" : ",", e);
      }
    }
    absl::StatusOr<int> port = FreeLoopbackPort();
    if (!port.ok()) return port.status();
    return ServerChild::Start(
        SEMAPHORED_BINARY, Dir(name), "127.0.0.1", *port,
        {absl::StrCat("--etcd_endpoints=", endpoints),
         absl::StrCat("--advertise=127.0.0.1:", *port),
         absl::StrCat("--leader_lease_ttl=", absl::FormatDuration(kLease)), "--state_file=",
         "--admin_socket=", absl::StrCat("--admin_token=", kToken)});
  }
  // Waits until `server` serves as the leader (its SemaphoreService is SERVING).
  bool AwaitLeading(const ServerChild& server) {
    const absl::Time deadline = absl::Now() + kSettle;
    while (absl::Now() < deadline) {
      if (CheckHealth(server.address(), kSemaphoreService).serving == HealthCheckResponse::SERVING) {
        return true;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return false;
  }

  ScratchDir dir_{"cluster_test"};
  std::unique_ptr<EtcdCluster> etcd_;
};

TEST_F(ClusterTest, TheLeaderAndAStandbyDescribeTheSameClusterWithEtcdHealth) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ServerChild> a, StartServer("a"));
  ASSERT_TRUE(AwaitLeading(*a)) << a->LogTail();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ServerChild> b, StartServer("b"));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ServerChild> c, StartServer("c"));
  std::vector<std::string> standbys = {absl::StrCat(b->address(), "=SERVER_ROLE_STANDBY"),
                                       absl::StrCat(c->address(), "=SERVER_ROLE_STANDBY")};
  std::sort(standbys.begin(), standbys.end());
  const std::vector<std::string> expected = {
      absl::StrCat(a->address(), "=SERVER_ROLE_LEADER"), standbys[0], standbys[1]};

  for (const ServerChild* asked : {a.get(), b.get(), c.get()}) {
    SCOPED_TRACE(asked->address());
    v1::GetClusterResponse cluster = AwaitCluster(
        asked->address(), [&](const v1::GetClusterResponse& r) { return Roles(r) == expected; });
    EXPECT_EQ(Roles(cluster), expected) << asked->LogTail();
    EXPECT_EQ(cluster.mode(), v1::CLUSTER_MODE_ETCD);
    EXPECT_EQ(cluster.leader_address(), a->address());
    EXPECT_EQ(cluster.answered_by(), asked->address());
    EXPECT_THAT(cluster.etcd_error(), IsEmpty());
    for (const v1::ClusterServer& s : cluster.servers()) {
      EXPECT_GT(s.start_time().seconds(), 0) << s.address();
    }
    ASSERT_THAT(cluster.etcd_endpoints(), SizeIs(3));
    int raft_leaders = 0;
    for (int i = 0; i < 3; ++i) {
      const v1::EtcdEndpoint& e = cluster.etcd_endpoints(i);
      SCOPED_TRACE(e.endpoint());
      EXPECT_EQ(e.endpoint(), etcd_->endpoint(i));
      EXPECT_TRUE(e.reachable()) << e.error();
      EXPECT_THAT(e.error(), IsEmpty());
      EXPECT_THAT(e.member_id(), SizeIs(16));
      EXPECT_THAT(e.version(), HasSubstr("3."));
      EXPECT_GT(e.db_size_bytes(), 0);
      raft_leaders += e.raft_leader() ? 1 : 0;
    }
    EXPECT_EQ(raft_leaders, 1);
  }

  // A standby answers GetCluster only with the admin token, and nothing else of the
  // admin service: that goes to the leader.
  v1::GetClusterResponse cluster;
  EXPECT_EQ(GetCluster(b->address(), &cluster, "").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  grpc::Status wrong = GetCluster(b->address(), &cluster, "wrong-token-wrong-token-wrong-tok");
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(wrong.error_message(), HasSubstr("admin token is wrong"));
  v1::ListSessionsResponse sessions;
  grpc::Status listed =
      v1::AdminService::NewStub(Channel(b->address()))->ListSessions(Context().get(), {}, &sessions);
  EXPECT_EQ(listed.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(listed.error_message(), HasSubstr(absl::StrCat("the leader is at ", a->address())));
}

TEST_F(ClusterTest, AKilledLeaderLeavesTheListAndTheNewLeaderIsShown) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ServerChild> a, StartServer("a"));
  ASSERT_TRUE(AwaitLeading(*a)) << a->LogTail();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ServerChild> b, StartServer("b"));
  const std::vector<std::string> before = {absl::StrCat(a->address(), "=SERVER_ROLE_LEADER"),
                                           absl::StrCat(b->address(), "=SERVER_ROLE_STANDBY")};
  v1::GetClusterResponse cluster = AwaitCluster(
      b->address(), [&](const v1::GetClusterResponse& r) { return Roles(r) == before; });
  ASSERT_EQ(Roles(cluster), before);

  ASSERT_TRUE(a->Kill());
  const std::vector<std::string> after = {absl::StrCat(b->address(), "=SERVER_ROLE_LEADER")};
  cluster = AwaitCluster(b->address(),
                         [&](const v1::GetClusterResponse& r) { return Roles(r) == after; });
  EXPECT_EQ(Roles(cluster), after) << b->LogTail();
  EXPECT_EQ(cluster.leader_address(), b->address());
}

TEST_F(ClusterTest, AKilledEtcdMemberShowsUnreachable) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ServerChild> a, StartServer("a"));
  ASSERT_TRUE(AwaitLeading(*a)) << a->LogTail();
  etcd_->Kill(1);
  v1::GetClusterResponse cluster = AwaitCluster(a->address(), [](const v1::GetClusterResponse& r) {
    return r.etcd_endpoints_size() == 3 && !r.etcd_endpoints(1).reachable();
  });
  ASSERT_THAT(cluster.etcd_endpoints(), SizeIs(3));
  EXPECT_FALSE(cluster.etcd_endpoints(1).reachable());
  EXPECT_THAT(cluster.etcd_endpoints(1).error(), HasSubstr(etcd_->endpoint(1)));
  EXPECT_THAT(cluster.etcd_endpoints(1).member_id(), IsEmpty());
  EXPECT_TRUE(cluster.etcd_endpoints(0).reachable());
  EXPECT_TRUE(cluster.etcd_endpoints(2).reachable());
  EXPECT_THAT(cluster.etcd_error(), IsEmpty()) << "two of three members still serve";
  EXPECT_EQ(cluster.leader_address(), a->address());
}

TEST_F(ClusterTest, HealthSaysLeaderStandbyOrEtcdUnreachable) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ServerChild> a, StartServer("a"));
  ASSERT_TRUE(AwaitLeading(*a)) << a->LogTail();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ServerChild> b, StartServer("b"));
  // A server whose only etcd endpoint has nothing listening: it never reaches etcd.
  ASSERT_OK_AND_ASSIGN(int nothing, FreeLoopbackPort());
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ServerChild> lost,
                       StartServer("lost", absl::StrCat("127.0.0.1:", nothing)));

  HealthAnswer leader = CheckHealth(a->address());
  ASSERT_THAT(leader.status.error_message(), IsEmpty());
  EXPECT_EQ(leader.serving, HealthCheckResponse::SERVING);
  EXPECT_EQ(leader.role, "leader");
  EXPECT_EQ(CheckHealth(a->address(), kSemaphoreService).serving, HealthCheckResponse::SERVING);

  HealthAnswer standby = CheckHealth(b->address());
  ASSERT_THAT(standby.status.error_message(), IsEmpty());
  EXPECT_EQ(standby.serving, HealthCheckResponse::SERVING) << "ready to take over";
  EXPECT_EQ(standby.role, "standby");
  EXPECT_EQ(standby.leader, a->address());
  EXPECT_THAT(standby.etcd_error, IsEmpty());
  EXPECT_EQ(CheckHealth(b->address(), kSemaphoreService).serving,
            HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(CheckHealth(b->address(), "no.such.Service").status.error_code(),
            grpc::StatusCode::NOT_FOUND);

  HealthAnswer cut_off = CheckHealth(lost->address());
  ASSERT_THAT(cut_off.status.error_message(), IsEmpty());
  EXPECT_EQ(cut_off.serving, HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(cut_off.role, "standby");
  EXPECT_THAT(cut_off.etcd_error, HasSubstr(absl::StrCat("127.0.0.1:", nothing)));
  // It still describes what it can: itself, and why etcd cannot be read.
  v1::GetClusterResponse cluster;
  ASSERT_TRUE(GetCluster(lost->address(), &cluster).ok());
  EXPECT_THAT(cluster.etcd_error(), Not(IsEmpty()));
  EXPECT_EQ(Roles(cluster),
            std::vector<std::string>{absl::StrCat(lost->address(), "=SERVER_ROLE_STANDBY")});
  ASSERT_THAT(cluster.etcd_endpoints(), SizeIs(1));
  EXPECT_FALSE(cluster.etcd_endpoints(0).reachable());

  // semctl health: the role in words; exit 0 for the leader and a standby, 1 without etcd.
  SemctlRun run = Semctl({absl::StrCat("--server=", a->address()), "health"});
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.output, "SERVING leader\n");
  run = Semctl({absl::StrCat("--server=", b->address()), "health"});
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.output, absl::StrCat("SERVING standby (leader at ", a->address(), ")\n"));
  run = Semctl({absl::StrCat("--server=", lost->address()), "health"});
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_THAT(run.output, HasSubstr("NOT_SERVING etcd unreachable: "));
  run = Semctl({absl::StrCat("--server=", b->address()), "health", "--json"});
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.output, absl::StrCat("{\"status\":\"SERVING\",\"role\":\"standby\",\"leader\":\"",
                                     a->address(), "\"}\n"));
}

TEST_F(ClusterTest, SemctlClusterPrintsServersAndEtcdEndpoints) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ServerChild> a, StartServer("a"));
  ASSERT_TRUE(AwaitLeading(*a)) << a->LogTail();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ServerChild> b, StartServer("b"));
  AwaitCluster(b->address(), [](const v1::GetClusterResponse& r) { return r.servers_size() == 2; });
  // A follower goes: the others keep their Raft leader, so they show healthy.
  ASSERT_OK_AND_ASSIGN(int raft_leader, etcd_->Leader());
  const int victim = (raft_leader + 1) % 3;
  etcd_->Kill(victim);
  const std::vector<std::string> common = {absl::StrCat("--server=", b->address()),
                                           "--admin_socket=off"};
  std::vector<std::string> args = common;
  args.insert(args.end(), {absl::StrCat("--admin_token=", kToken), "cluster"});
  SemctlRun run = Semctl(args);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  std::printf("semctl cluster, one etcd member killed:\n%s", run.output.c_str());
  EXPECT_THAT(run.output, HasSubstr(absl::StrCat("leader: ", a->address(), " (answered by ",
                                                 b->address(), ")\n")));
  EXPECT_THAT(run.output, HasSubstr("SERVER"));
  EXPECT_THAT(run.output, ::testing::ContainsRegex(absl::StrCat(a->address(), " +leader +20")));
  EXPECT_THAT(run.output, ::testing::ContainsRegex(absl::StrCat(b->address(), " +standby +20")));
  EXPECT_THAT(run.output, HasSubstr("ETCD ENDPOINT"));
  EXPECT_THAT(run.output, ::testing::ContainsRegex(absl::StrCat(
                              etcd_->endpoint(raft_leader), " +healthy +[0-9a-f]{16} +leader +3\\.")));
  EXPECT_THAT(run.output, ::testing::ContainsRegex(absl::StrCat(
                              etcd_->endpoint(victim), " +unreachable +- .*", etcd_->endpoint(victim))));

  args.push_back("--json");
  run = Semctl(args);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("\"mode\":\"CLUSTER_MODE_ETCD\""));
  EXPECT_THAT(run.output, HasSubstr(absl::StrCat("\"leader_address\":\"", a->address(), "\"")));
  EXPECT_THAT(run.output, HasSubstr("\"role\":\"SERVER_ROLE_STANDBY\""));
  EXPECT_THAT(run.output, HasSubstr("\"etcd_endpoints\":["));

  // Without the token: refused, exit 4 (as every admin command).
  args = common;
  args.push_back("cluster");
  run = Semctl(args);
  EXPECT_EQ(run.exit_code, 4) << run.output;
  EXPECT_THAT(run.output, HasSubstr("authorization: Bearer"));
  args.push_back("extra");
  run = Semctl(args);
  EXPECT_EQ(run.exit_code, 2) << run.output;
}

}  // namespace
}  // namespace semaphored
