// Durable state across a crash (issue 11's "Done when"), against the real binary and
// with nothing but the unary RPCs, as a client in another language would use them:
// session A (TTL 30 s) sets `printer`; session B waits for it; the server is killed
// with SIGKILL and started again on the same --data_dir; A's refresh works and Test
// shows A holding `printer` with the same fencing token and one waiter; B repeats its
// wait (a retry after the broken call) and C starts waiting after it; A's clear grants
// `printer` to B, not C, with a larger token.
//
// Also: a second server on the same data dir is refused, and the startup lines say
// what was loaded.

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "semaphored/v1/semaphore.grpc.pb.h"
#include "tests/faults/server_child.h"
#include "tests/faults/unary_client.h"

namespace semaphored {
namespace {

using ::semaphored::testing::ReadFileText;
using ::semaphored::testing::ScratchDir;
using ::semaphored::testing::ServerChild;
using ::semaphored::testing::UnaryClient;
using ::semaphored::testing::kCallTimeout;
using ::semaphored::testing::kWaitTimeout;
using ::testing::HasSubstr;

// A set that waits, on its own thread.
class PendingSet {
 public:
  PendingSet(UnaryClient* client, std::string secret, std::string name)
      : thread_([this, client, secret = std::move(secret), name = std::move(name)] {
          status_ = client->SetWaiting(secret, name, &response_);
          done_.Notify();
        }) {}
  ~PendingSet() { thread_.join(); }

  bool WaitForAnswer(absl::Duration timeout) {
    return done_.WaitForNotificationWithTimeout(timeout);
  }
  const grpc::Status& status() const { return status_; }
  const v1::SetSemaphoreResponse& response() const { return response_; }

 private:
  grpc::Status status_;
  v1::SetSemaphoreResponse response_;
  absl::Notification done_;
  std::thread thread_;
};

// Polls Test until `name` has `waiters` waiters (bounded by kCallTimeout).
bool AwaitWaiters(UnaryClient& client, const std::string& name, int waiters) {
  const absl::Time give_up = absl::Now() + kCallTimeout;
  v1::SemaphoreState state;
  while (absl::Now() < give_up) {
    if (client.Test(name, &state).ok() && state.waiter_count() == waiters) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

// The server's log once it has `starts` store_loaded lines (the startup lines follow
// the port file, which ServerChild::Start waits for); bounded by kCallTimeout.
std::string LogOnceLoaded(const ServerChild& server, int starts) {
  const absl::Time give_up = absl::Now() + kCallTimeout;
  std::string text;
  for (;;) {
    absl::StatusOr<std::string> log = ReadFileText(server.log_path());
    text = log.ok() ? *log : "";
    int found = 0;
    for (size_t at = text.find("store_loaded"); at != std::string::npos;
         at = text.find("store_loaded", at + 1)) {
      ++found;
    }
    if (found >= starts || absl::Now() > give_up) return text;
    absl::SleepFor(absl::Milliseconds(10));
  }
}

class DurableRestartTest : public ::testing::Test {
 protected:
  std::unique_ptr<ServerChild> StartServer(int port) {
    absl::StatusOr<std::unique_ptr<ServerChild>> server = ServerChild::Start(
        SEMAPHORED_BINARY, dir_.path(), "127.0.0.1", port,
        {"--data_dir=" + data_dir(), "--state_file=", "--admin_socket="});
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }
  std::string data_dir() const { return dir_.File("data"); }

  ScratchDir dir_{"semaphored_durable_"};
};

TEST_F(DurableRestartTest, HoldsAndQueuesSurviveSigkillAndTheRetriedWaitKeepsItsPlace) {
  std::unique_ptr<ServerChild> server = StartServer(0);
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  UnaryClient client(server->address());

  std::string a, b, c;
  ASSERT_TRUE(client.CreateSession("A", absl::Seconds(30), &a).ok());
  ASSERT_TRUE(client.CreateSession("B", absl::Seconds(30), &b).ok());
  v1::SetSemaphoreResponse a_set;
  ASSERT_TRUE(client.SetWaiting(a, "printer", &a_set).ok());
  ASSERT_TRUE(a_set.acquired());
  const uint64_t a_token = a_set.grant().fencing_token();

  {
    // B's wait is queued, then the server dies under it.
    PendingSet b_wait(&client, b, "printer");
    ASSERT_TRUE(AwaitWaiters(client, "printer", 1));
    ASSERT_TRUE(server->Kill());
    ASSERT_TRUE(b_wait.WaitForAnswer(kCallTimeout));
    EXPECT_EQ(b_wait.status().error_code(), grpc::StatusCode::UNAVAILABLE)
        << b_wait.status().error_message();
  }

  server = StartServer(port);
  ASSERT_NE(server, nullptr);
  EXPECT_THAT(LogOnceLoaded(*server, 2),
              HasSubstr("sessions=2 semaphores=1 holders=1 waiters=1"));

  // A's session is alive, and still holds printer with the same token and one waiter.
  EXPECT_TRUE(client.Refresh(a).ok());
  v1::SemaphoreState state;
  ASSERT_TRUE(client.Test("printer", &state).ok());
  ASSERT_EQ(state.holders_size(), 1);
  EXPECT_EQ(state.holders(0).client_name(), "A");
  EXPECT_EQ(state.holders(0).grant().fencing_token(), a_token);
  EXPECT_EQ(state.waiter_count(), 1);

  // B retries its wait (claiming its place), C queues after it; A's clear goes to B.
  ASSERT_TRUE(client.CreateSession("C", absl::Seconds(30), &c).ok());
  PendingSet b_retry(&client, b, "printer");
  ASSERT_TRUE(AwaitWaiters(client, "printer", 1));  // still one: B's, claimed
  PendingSet c_wait(&client, c, "printer");
  ASSERT_TRUE(AwaitWaiters(client, "printer", 2));
  ASSERT_TRUE(client.Clear(a, "printer").ok());
  ASSERT_TRUE(b_retry.WaitForAnswer(kCallTimeout));
  ASSERT_TRUE(b_retry.status().ok()) << b_retry.status().error_message();
  ASSERT_TRUE(b_retry.response().acquired());
  EXPECT_GT(b_retry.response().grant().fencing_token(), a_token);
  EXPECT_FALSE(c_wait.WaitForAnswer(absl::Milliseconds(200)));
  ASSERT_TRUE(client.Test("printer", &state).ok());
  ASSERT_EQ(state.holders_size(), 1);
  EXPECT_EQ(state.holders(0).client_name(), "B");
  EXPECT_EQ(state.waiter_count(), 1);

  // B's clear hands printer on to C; stopping the server ends C's call.
  ASSERT_TRUE(client.Clear(b, "printer").ok());
  ASSERT_TRUE(c_wait.WaitForAnswer(kCallTimeout));
  EXPECT_TRUE(c_wait.status().ok() && c_wait.response().acquired());
}

// SIGTERM (docker stop, an upgrade) drains without ending anything: the waiter is told
// to retry, and the restarted server has every session, hold and queue place.
TEST_F(DurableRestartTest, AGracefulStopKeepsTheStateAndTellsWaitersToRetry) {
  std::unique_ptr<ServerChild> server = StartServer(0);
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  UnaryClient client(server->address());
  std::string a, b;
  ASSERT_TRUE(client.CreateSession("A", absl::Seconds(30), &a).ok());
  ASSERT_TRUE(client.CreateSession("B", absl::Seconds(30), &b).ok());
  v1::SetSemaphoreResponse a_set;
  ASSERT_TRUE(client.SetWaiting(a, "printer", &a_set).ok());
  {
    PendingSet b_wait(&client, b, "printer");
    ASSERT_TRUE(AwaitWaiters(client, "printer", 1));
    absl::StatusOr<int> exit = server->Terminate();
    ASSERT_TRUE(exit.ok()) << exit.status();
    EXPECT_EQ(*exit, 0);
    ASSERT_TRUE(b_wait.WaitForAnswer(kCallTimeout));
    EXPECT_EQ(b_wait.status().error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_THAT(b_wait.status().error_message(), HasSubstr("retry the same request"));
  }
  server = StartServer(port);
  ASSERT_NE(server, nullptr);
  EXPECT_TRUE(client.Refresh(b).ok());
  v1::SemaphoreState state;
  ASSERT_TRUE(client.Test("printer", &state).ok());
  ASSERT_EQ(state.holders_size(), 1);
  EXPECT_EQ(state.holders(0).grant().fencing_token(), a_set.grant().fencing_token());
  EXPECT_EQ(state.waiter_count(), 1);
}

// A commit that fails (here: the file size limit, as a full disk would) leaves the
// memory ahead of the disk: the server answers nothing more and exits with status 4.
// Restarted, it has every hold it answered, and nothing it did not.
TEST_F(DurableRestartTest, AFailedCommitAnswersNothingMoreAndExits4) {
  // The child inherits the limit, and SIGXFSZ ignored: its writes past the limit fail
  // with EFBIG instead of killing it. 1 MiB: room for the empty database and the log.
  struct rlimit saved {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  struct rlimit small = saved;
  small.rlim_cur = 1 << 20;
  ::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  std::unique_ptr<ServerChild> server = StartServer(0);
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::signal(SIGXFSZ, SIG_DFL);
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  UnaryClient client(server->address());
  std::string a;
  ASSERT_TRUE(client.CreateSession("A", absl::Seconds(60), &a).ok());

  // Distinct names with long values fill the write-ahead log past the limit (bounded:
  // at most 20,000 sets or 60 s).
  std::vector<std::string> answered;
  grpc::Status failed;
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  for (int i = 0; i < 20'000 && absl::Now() < give_up; ++i) {
    const std::string name = absl::StrCat("fill-", i, "-", std::string(200, 'x'));
    v1::SetSemaphoreResponse set;
    failed = client.SetWaiting(a, name, &set, absl::Seconds(5));
    if (!failed.ok()) break;
    ASSERT_TRUE(set.acquired());
    answered.push_back(name);
  }
  ASSERT_FALSE(failed.ok()) << "the file size limit was never reached";
  std::printf("%zu sets answered before the commit failed: %s\n", answered.size(),
              failed.error_message().c_str());
  EXPECT_THAT(failed.error_code(),
              ::testing::AnyOf(grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::CANCELLED,
                               grpc::StatusCode::DEADLINE_EXCEEDED))
      << failed.error_message();
  absl::StatusOr<int> exit = server->Terminate();
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(*exit, 4) << server->LogTail();
  EXPECT_THAT(server->LogTail(), HasSubstr("store_failed"));

  server = StartServer(port);
  ASSERT_NE(server, nullptr);
  // Every set answered is held; the one that failed is not (its batch never committed).
  EXPECT_THAT(LogOnceLoaded(*server, 2), HasSubstr(absl::StrCat("sessions=1 semaphores=", answered.size(),
                                           " holders=", answered.size(), " waiters=0")));
  v1::SemaphoreState state;
  ASSERT_TRUE(client.Test(answered.back(), &state).ok());
  EXPECT_EQ(state.holders_size(), 1);
}

TEST_F(DurableRestartTest, ASecondServerOnTheSameDataDirIsRefused) {
  std::unique_ptr<ServerChild> first = StartServer(0);
  ASSERT_NE(first, nullptr);
  // Its own dir for its port file and log; the same data dir.
  const std::string own = dir_.File("second");
  ASSERT_EQ(::mkdir(own.c_str(), 0700), 0);
  absl::StatusOr<std::unique_ptr<ServerChild>> second = ServerChild::Start(
      SEMAPHORED_BINARY, own, "127.0.0.1", 0,
      {"--data_dir=" + data_dir(), "--state_file=", "--admin_socket="});
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(second.status().message(), HasSubstr("is in use by another semaphored (pid "));
}

TEST_F(DurableRestartTest, WithoutADataDirTheStartupLineSaysStateIsLostOnRestart) {
  absl::StatusOr<std::unique_ptr<ServerChild>> server = ServerChild::Start(
      SEMAPHORED_BINARY, dir_.path(), "127.0.0.1", 0, {"--state_file=", "--admin_socket="});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_THAT(LogOnceLoaded(**server, 1),
              HasSubstr("store=\"in memory: state is lost on restart\""));
}

}  // namespace
}  // namespace semaphored
