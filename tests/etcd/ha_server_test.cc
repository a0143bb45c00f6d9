// Several semaphored servers on one etcd (the real binary, a real etcd on loopback):
// one leads and serves, the other answers UNAVAILABLE naming it; when the leader is
// SIGKILLed the other takes over with every session and hold (same fencing token) and
// the old leader, started again, is a standby naming the new one. Prints the failover
// time (SIGKILL of the leader to the first answer of the new one showing the hold).

#include <sys/stat.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "absl/synchronization/mutex.h"
#include "semaphored/semaphored.h"
#include "tests/common/status_matchers.h"
#include "tests/etcd/etcd_cluster.h"
#include "tests/faults/server_child.h"
#include "tests/faults/unary_client.h"

namespace semaphored {
namespace {

using ::semaphored::testing::EtcdCluster;
using ::semaphored::testing::FreeLoopbackPort;
using ::semaphored::testing::IsOk;
using ::semaphored::testing::ScratchDir;
using ::semaphored::testing::ServerChild;
using ::semaphored::testing::UnaryClient;
using ::testing::HasSubstr;

constexpr absl::Duration kLease = absl::Seconds(2);

class HaServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<EtcdCluster>> cluster = EtcdCluster::Start(1, dir_.path());
    ASSERT_THAT(cluster.status(), IsOk());
    cluster_ = *std::move(cluster);
  }
  std::vector<std::string> Args(int port) const {
    return {absl::StrCat("--etcd_endpoints=", cluster_->endpoint(0)),
            absl::StrCat("--advertise=127.0.0.1:", port),
            absl::StrCat("--leader_lease_ttl=", absl::FormatDuration(kLease)),
            "--state_file=", "--admin_socket="};
  }
  // A directory of its own under the test's, for a server's log and port file.
  std::string Dir(const std::string& name) {
    const std::string dir = dir_.File(name);
    EXPECT_EQ(mkdir(dir.c_str(), 0700), 0) << dir;
    return dir;
  }
  absl::StatusOr<std::unique_ptr<ServerChild>> StartServer(const std::string& name, int port) {
    return ServerChild::Start(SEMAPHORED_BINARY, Dir(name), "127.0.0.1", port, Args(port));
  }

  ScratchDir dir_{"ha_server_test"};
  std::unique_ptr<EtcdCluster> cluster_;
};

TEST_F(HaServerTest, TheStandbyNamesTheLeaderAndTakesOverWithEveryHold) {
  ASSERT_OK_AND_ASSIGN(int port_a, FreeLoopbackPort());
  ASSERT_OK_AND_ASSIGN(int port_b, FreeLoopbackPort());
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ServerChild> a, StartServer("a", port_a));
  // A leads once it serves a session; B then starts as a standby.
  UnaryClient to_a(a->address());
  std::string secret;
  ASSERT_TRUE(to_a.CreateSession("job", absl::Seconds(30), &secret).ok()) << a->LogTail();
  v1::SetSemaphoreResponse set;
  ASSERT_TRUE(to_a.SetWaiting(secret, "printer", &set, absl::ZeroDuration()).ok());
  ASSERT_TRUE(set.acquired());
  const uint64_t token = set.grant().fencing_token();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ServerChild> b, StartServer("b", port_b));

  UnaryClient to_b(b->address());
  v1::SemaphoreState state;
  grpc::Status standby = to_b.Test("printer", &state);
  EXPECT_EQ(standby.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(standby.error_message(), HasSubstr(absl::StrCat("the leader is at ", a->address())));

  ASSERT_TRUE(a->Kill());
  const absl::Time killed = absl::Now();
  grpc::Status served;
  while (absl::Now() - killed < absl::Seconds(20)) {
    served = to_b.Test("printer", &state);
    if (served.ok()) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  const absl::Duration failover = absl::Now() - killed;
  ASSERT_TRUE(served.ok()) << served.error_message() << "\n" << b->LogTail();
  std::printf("failover: SIGKILL of the leader to the first answer of the next one: %s "
              "(lease %s)\n",
              absl::FormatDuration(failover).c_str(), absl::FormatDuration(kLease).c_str());
  ASSERT_EQ(state.holders_size(), 1);
  EXPECT_EQ(state.holders(0).grant().fencing_token(), token) << "the same hold, the same token";
  // The session lives on, on B: its refresh succeeds; a new grant has a larger token.
  EXPECT_TRUE(to_b.Refresh(secret).ok());
  std::string other;
  ASSERT_TRUE(to_b.CreateSession("other", absl::Seconds(30), &other).ok());
  v1::SetSemaphoreResponse tried;
  ASSERT_TRUE(to_b.SetWaiting(other, "printer", &tried, absl::ZeroDuration()).ok());
  EXPECT_FALSE(tried.acquired()) << "another session's try fails: the hold survived";
  EXPECT_TRUE(to_b.Clear(secret, "printer").ok());
  ASSERT_TRUE(to_b.SetWaiting(secret, "printer", &set, absl::ZeroDuration()).ok());
  EXPECT_GT(set.grant().fencing_token(), token);

  // A again: a standby now, naming B.
  ASSERT_OK_AND_ASSIGN(a, StartServer("a2", port_a));
  UnaryClient to_a2(a->address());
  standby = to_a2.Test("printer", &state);
  EXPECT_EQ(standby.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(standby.error_message(), HasSubstr(absl::StrCat("the leader is at ", b->address())));
}

// The library given both addresses: it finds the leader (B first in the list is a
// standby), and when the leader is SIGKILLed the session is interrupted, resumes on the
// new leader with its permit and token, and a wait queued before keeps its place.
TEST_F(HaServerTest, TheLibraryFollowsTheLeaderAndItsSessionResumesOnTheNextOne) {
  ASSERT_OK_AND_ASSIGN(int port_a, FreeLoopbackPort());
  ASSERT_OK_AND_ASSIGN(int port_b, FreeLoopbackPort());
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ServerChild> a, StartServer("a", port_a));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ServerChild> b, StartServer("b", port_b));
  ClientOptions client_options;
  client_options.address = absl::StrCat(b->address(), ",", a->address());  // standby first
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Client> client, Client::Connect(client_options));

  absl::Mutex mu;
  int interrupted = 0;
  int resumed = 0;
  int lost = 0;
  auto options = [&](const std::string& name) {
    SessionOptions o;
    o.client_name = name;
    o.ttl = absl::Seconds(30);
    o.on_session_interrupted = [&](const absl::Status&) {
      absl::MutexLock lock(&mu);
      ++interrupted;
    };
    o.on_session_resumed = [&] {
      absl::MutexLock lock(&mu);
      ++resumed;
    };
    o.on_session_lost = [&](const absl::Status&) {
      absl::MutexLock lock(&mu);
      ++lost;
    };
    return o;
  };
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Session> holder, client->OpenSession(options("holder")));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Session> waiter, client->OpenSession(options("waiter")));
  ASSERT_OK_AND_ASSIGN(Permit permit, holder->Acquire("printer"));
  const uint64_t token = permit.fencing_token();
  AcquireOptions wait;
  wait.timeout = absl::Seconds(60);
  absl::StatusOr<Permit> waited;
  std::thread waiting([&] { waited = waiter->Acquire("printer", wait); });
  bool queued = false;
  for (int i = 0; i < 500 && !queued; ++i) {
    absl::StatusOr<SemaphoreInfo> info = client->Test("printer");
    queued = info.ok() && info->waiter_count == 1;
    if (!queued) absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_TRUE(queued);

  ASSERT_TRUE(a->Kill());
  {
    absl::MutexLock lock(&mu);
    auto both = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return resumed >= 2; };
    EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(&both), absl::Seconds(30)));
    EXPECT_EQ(interrupted, 2);
    EXPECT_EQ(lost, 0);
  }
  ASSERT_OK_AND_ASSIGN(SemaphoreInfo info, client->Test("printer"));
  ASSERT_EQ(info.holders.size(), 1u);
  EXPECT_EQ(info.holders[0].fencing_token, token) << "the same permit, on the next leader";
  EXPECT_EQ(info.waiter_count, 1) << "the wait kept its place";
  EXPECT_THAT(permit.Release(), IsOk());
  waiting.join();
  ASSERT_THAT(waited.status(), IsOk());
  EXPECT_TRUE(waited->acquired());
  EXPECT_GT(waited->fencing_token(), token);
}

// etcd out of reach: the leader grants nothing; once its lease may have lapsed it exits
// (5) and, started again, stands by saying it cannot reach etcd; when etcd returns it
// leads again with the state as etcd kept it: the hold, its token, the session.
TEST_F(HaServerTest, WithEtcdOutOfReachNothingIsGrantedAndServiceContinuesWhenItReturns) {
  ASSERT_OK_AND_ASSIGN(int port, FreeLoopbackPort());
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ServerChild> a, StartServer("a", port));
  UnaryClient client(a->address(), absl::Seconds(5));
  std::string secret;
  ASSERT_TRUE(client.CreateSession("job", absl::Seconds(60), &secret).ok()) << a->LogTail();
  v1::SetSemaphoreResponse set;
  ASSERT_TRUE(client.SetWaiting(secret, "printer", &set, absl::ZeroDuration()).ok());
  const uint64_t token = set.grant().fencing_token();

  cluster_->Kill(0);
  v1::SetSemaphoreResponse other;
  grpc::Status refused = client.SetWaiting(secret, "scanner", &other, absl::ZeroDuration());
  EXPECT_FALSE(refused.ok() && other.acquired()) << "granted with etcd out of reach";
  // Its commit failed: nothing held back is answered; the call ends with the
  // connection. It exits (4), or its lease may have lapsed first (5).
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE) << refused.error_message();
  ASSERT_OK_AND_ASSIGN(int code, a->AwaitExit(kLease + absl::Seconds(10)));
  EXPECT_THAT(code, ::testing::AnyOf(4, 5)) << a->LogTail();

  ASSERT_OK_AND_ASSIGN(a, StartServer("a2", port));
  UnaryClient again(a->address(), absl::Seconds(5));
  v1::SemaphoreState state;
  grpc::Status standby = again.Test("printer", &state);
  EXPECT_EQ(standby.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(standby.error_message(), HasSubstr("state store unavailable: cannot reach etcd"));

  ASSERT_THAT(cluster_->Restart(0), IsOk());
  grpc::Status served;
  const absl::Time back = absl::Now();
  while (absl::Now() - back < absl::Seconds(20)) {
    served = again.Test("printer", &state);
    if (served.ok()) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(served.ok()) << served.error_message() << "\n" << a->LogTail();
  ASSERT_EQ(state.holders_size(), 1);
  EXPECT_EQ(state.holders(0).grant().fencing_token(), token);
  EXPECT_TRUE(again.Refresh(secret).ok());
  EXPECT_TRUE(again.SetWaiting(secret, "scanner", &other, absl::ZeroDuration()).ok());
  EXPECT_TRUE(other.acquired());
}

// Every bad etcd flag is refused at start (exit 2) with a message naming it.
TEST_F(HaServerTest, BadEtcdFlagsAreRefusedWithAClearError) {
  ASSERT_OK_AND_ASSIGN(int port, FreeLoopbackPort());
  const struct {
    std::string flag;
    std::string error;
  } cases[] = {
      {"--data_dir=" + dir_.path() + "/data", "exclude each other"},
      {"--etcd_prefix=semaphored", "must start and end with '/'"},
      {"--leader_lease_ttl=500ms", "from 1s to 5m"},
      {"--advertise=0.0.0.0:50051", "not an address clients can reach"},
      {"--advertise=127.0.0.1:0", "not an address clients can reach"},
      {"--etcd_tls_cert=/nonexistent.pem", "give both or neither"},
  };
  int i = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.flag);
    std::vector<std::string> args = Args(port);
    args.push_back(c.flag);
    absl::StatusOr<std::unique_ptr<ServerChild>> child = ServerChild::Start(
        SEMAPHORED_BINARY, Dir(absl::StrCat("bad", i++)), "127.0.0.1", port, args,
        absl::Seconds(10));
    ASSERT_FALSE(child.ok());
    EXPECT_THAT(std::string(child.status().message()), HasSubstr(c.error));
  }
}

}  // namespace
}  // namespace semaphored
