// The client library resumes its sessions across a restart of a server with a data
// dir (SIGKILL, and SIGTERM's drain): on_session_interrupted, then on_session_resumed;
// permits stay held with the same tokens, a waiting Acquire keeps its place in the
// queue, and nothing is lost or applied twice.

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "semaphored/client.h"
#include "semaphored/errors.h"
#include "tests/common/status_matchers.h"
#include "tests/faults/server_child.h"

namespace semaphored {
namespace {

using ::semaphored::testing::ScratchDir;
using ::semaphored::testing::ServerChild;

constexpr absl::Duration kLimit = absl::Seconds(20);

// Counts a session's interruptions, resumes and losses.
struct Watch {
  absl::Mutex mu;
  int interrupted = 0;
  int resumed = 0;
  int lost = 0;

  SessionOptions Options(const std::string& name) {
    SessionOptions options;
    options.client_name = name;
    options.ttl = absl::Seconds(30);
    options.on_session_interrupted = [this](const absl::Status&) {
      absl::MutexLock lock(&mu);
      ++interrupted;
    };
    options.on_session_resumed = [this] {
      absl::MutexLock lock(&mu);
      ++resumed;
    };
    options.on_session_lost = [this](const absl::Status&) {
      absl::MutexLock lock(&mu);
      ++lost;
    };
    return options;
  }
  // Waits (bounded) until the session has resumed `n` times.
  bool AwaitResumed(int n) {
    absl::MutexLock lock(&mu);
    auto done = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return resumed >= n; };
    return mu.AwaitWithTimeout(absl::Condition(&done), kLimit);
  }
};

// Polls until `name` has `waiters` queued set requests (bounded).
bool AwaitWaiters(Client& client, const std::string& name, int waiters) {
  const absl::Time give_up = absl::Now() + kLimit;
  while (absl::Now() < give_up) {
    absl::StatusOr<SemaphoreInfo> info = client.Test(name);
    if (info.ok() && info->waiter_count == waiters) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return false;
}

class LibraryResumeTest : public ::testing::TestWithParam<bool> {
 protected:
  std::unique_ptr<ServerChild> StartServer(int port) {
    absl::StatusOr<std::unique_ptr<ServerChild>> server = ServerChild::Start(
        SEMAPHORED_BINARY, dir_.path(), "127.0.0.1", port,
        {"--data_dir=" + dir_.File("data"), "--state_file=", "--admin_socket="});
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }
  // Stops the server as the test's parameter says: SIGKILL, or SIGTERM (a drain).
  void Stop(std::unique_ptr<ServerChild>& server) {
    if (GetParam()) {
      ASSERT_TRUE(server->Kill());
    } else {
      absl::StatusOr<int> exit = server->Terminate();
      ASSERT_TRUE(exit.ok()) << exit.status();
      EXPECT_EQ(*exit, 0);
    }
    server.reset();
  }

  ScratchDir dir_{"semaphored_resume_"};
};

TEST_P(LibraryResumeTest, PermitsStayHeldAndAWaitingAcquireKeepsItsPlace) {
  std::unique_ptr<ServerChild> server = StartServer(0);
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  ClientOptions client_options;
  client_options.address = server->address();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Client> client, Client::Connect(client_options));

  Watch a_watch, b_watch;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Session> a,
                       client->OpenSession(a_watch.Options("A")));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Session> b,
                       client->OpenSession(b_watch.Options("B")));
  ASSERT_OK_AND_ASSIGN(Permit a_permit, a->Acquire("printer"));
  ASSERT_TRUE(a_permit.acquired());
  const uint64_t a_token = a_permit.fencing_token();

  // B waits for printer across the restart.
  absl::StatusOr<Permit> b_permit;
  AcquireOptions wait;
  wait.timeout = absl::Seconds(60);
  std::thread b_thread([&] { b_permit = b->Acquire("printer", wait); });
  ASSERT_TRUE(AwaitWaiters(*client, "printer", 1));

  Stop(server);
  server = StartServer(port);
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE(a_watch.AwaitResumed(1)) << server->LogTail();
  ASSERT_TRUE(b_watch.AwaitResumed(1)) << server->LogTail();

  // A still holds printer with its token; B's wait is the one waiter (its place).
  EXPECT_TRUE(a_permit.held());
  EXPECT_EQ(a_permit.fencing_token(), a_token);
  ASSERT_TRUE(AwaitWaiters(*client, "printer", 1));
  ASSERT_OK_AND_ASSIGN(SemaphoreInfo info, client->Test("printer"));
  ASSERT_EQ(info.holders.size(), 1u);
  EXPECT_EQ(info.holders[0].fencing_token, a_token);

  // C queues after B; A's release goes to B (not C), with a larger token.
  Watch c_watch;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Session> c,
                       client->OpenSession(c_watch.Options("C")));
  absl::StatusOr<Permit> c_permit;
  std::thread c_thread([&] { c_permit = c->Acquire("printer", wait); });
  ASSERT_TRUE(AwaitWaiters(*client, "printer", 2));
  ASSERT_THAT(a_permit.Release(), ::semaphored::testing::IsOk());
  b_thread.join();
  ASSERT_THAT(b_permit, ::semaphored::testing::IsOk());
  ASSERT_TRUE(b_permit->acquired());
  EXPECT_GT(b_permit->fencing_token(), a_token);
  ASSERT_TRUE(AwaitWaiters(*client, "printer", 1));  // C's, still waiting
  ASSERT_THAT(b_permit->Release(), ::semaphored::testing::IsOk());
  c_thread.join();
  ASSERT_THAT(c_permit, ::semaphored::testing::IsOk());
  EXPECT_TRUE(c_permit->acquired());
  EXPECT_GT(c_permit->fencing_token(), b_permit->fencing_token());

  {
    absl::MutexLock lock(&a_watch.mu);
    EXPECT_EQ(a_watch.interrupted, 1);
    EXPECT_EQ(a_watch.lost, 0);
  }
  {
    absl::MutexLock lock(&b_watch.mu);
    EXPECT_EQ(b_watch.interrupted, 1);
    EXPECT_EQ(b_watch.lost, 0);
  }
  EXPECT_THAT(a->Close(), ::semaphored::testing::IsOk());
  EXPECT_THAT(b->Close(), ::semaphored::testing::IsOk());
  c_permit = Permit();
  EXPECT_THAT(c->Close(), ::semaphored::testing::IsOk());
  client.reset();
  absl::StatusOr<int> exit = server->Terminate();
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(*exit, 0) << server->LogTail();
}

INSTANTIATE_TEST_SUITE_P(Stops, LibraryResumeTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Sigkill" : "Sigterm";
                         });

}  // namespace
}  // namespace semaphored
