// The real client library against a real in-process server on an ephemeral loopback
// port. Every wait is bounded; the waits on the server's state poll its core.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "semaphored/semaphored.h"
#include "engine/types.h"
#include "server/server.h"
#include "tests/common/status_matchers.h"

namespace semaphored {
namespace {

using ::semaphored::testing::IsOk;
using ::semaphored::testing::StatusIs;
using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(30);

// Callbacks seen by a session.
struct Seen {
  absl::Mutex mu;
  int lost = 0;
  absl::Status lost_status;
  std::vector<std::string> revoked;
  absl::Status revoked_status;

  SessionOptions Options(const std::string& client_name) {
    SessionOptions options;
    options.client_name = client_name;
    options.on_session_lost = [this](const absl::Status& s) {
      absl::MutexLock lock(&mu);
      ++lost;
      lost_status = s;
    };
    options.on_revoked = [this](const std::string& name, const absl::Status& s) {
      absl::MutexLock lock(&mu);
      revoked.push_back(name);
      revoked_status = s;
    };
    return options;
  }
  bool AwaitLost() {
    absl::MutexLock lock(&mu);
    return mu.AwaitWithTimeout(
        absl::Condition(+[](int* n) { return *n > 0; }, &lost), kWait);
  }
  bool AwaitRevoked() {
    absl::MutexLock lock(&mu);
    return mu.AwaitWithTimeout(
        absl::Condition(+[](std::vector<std::string>* v) { return !v->empty(); },
                        &revoked),
        kWait);
  }
};

class ClientIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::semaphored::server::ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.core.min_ttl = absl::Milliseconds(100);
    auto server = ::semaphored::server::Server::Start(std::move(options));
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    ClientOptions client_options;
    client_options.address = server_->address();
    client_options.client_name = "integration";
    auto client = Client::Connect(client_options);
    ASSERT_THAT(client, IsOk());
    client_ = *std::move(client);
  }
  void TearDown() override {
    client_.reset();
    if (server_ != nullptr) server_->Shutdown();
  }

  std::unique_ptr<Session> Open(const std::string& name, Seen* seen = nullptr,
                                absl::Duration ttl = absl::ZeroDuration()) {
    SessionOptions options = seen != nullptr ? seen->Options(name) : SessionOptions();
    options.client_name = name;
    options.ttl = ttl;
    auto session = client_->OpenSession(std::move(options));
    EXPECT_THAT(session, IsOk());
    return session.ok() ? *std::move(session) : nullptr;
  }
  // Polls the server's core until `name` has `count` queued set requests (bounded).
  bool AwaitWaiters(const std::string& name, int count) {
    const absl::Time give_up = absl::Now() + kWait;
    while (server_->core().Test(name).waiter_count != count) {
      if (absl::Now() > give_up) return false;
      absl::SleepFor(absl::Milliseconds(1));
    }
    return true;
  }
  static internal::SessionId IdOf(const Session& session) {
    return internal::ParseSessionId(session.id()).value_or(0);
  }

  std::unique_ptr<::semaphored::server::Server> server_;
  std::unique_ptr<Client> client_;
};

AcquireOptions Wait(absl::Duration timeout) {
  AcquireOptions options;
  options.timeout = timeout;
  return options;
}

// A dropped Permit's release waits for the session's next command to share its
// message: with none following, it still goes out on its own, and the release and the
// next command of a busy session arrive in order.
TEST_F(ClientIntegrationTest, ADroppedPermitIsReleasedWithOrWithoutAFollowingCommand) {
  auto a = Open("alpha");
  auto b = Open("beta");
  {
    ASSERT_OK_AND_ASSIGN(Permit permit, a->Acquire("lone"));
    ASSERT_TRUE(permit.acquired());
  }  // nothing follows on a's session
  ASSERT_OK_AND_ASSIGN(Permit waited, b->Acquire("lone", Wait(kWait)));
  EXPECT_TRUE(waited.acquired());

  for (int i = 0; i < 100; ++i) {
    ASSERT_OK_AND_ASSIGN(Permit permit, a->Acquire("loop"));
    ASSERT_TRUE(permit.acquired()) << "pair " << i;
  }
  ASSERT_OK_AND_ASSIGN(SemaphoreInfo info, a->Test("loop"));
  EXPECT_FALSE(info.set);  // the last release went ahead of the test
}

TEST_F(ClientIntegrationTest, AcquireTestAndClearAGlobalSemaphore) {
  auto a = Open("alpha");
  auto b = Open("beta");
  ASSERT_OK_AND_ASSIGN(Permit permit, a->Acquire("orders"));
  EXPECT_TRUE(permit.acquired());
  EXPECT_GT(permit.fencing_token(), 0u);

  ASSERT_OK_AND_ASSIGN(Permit other, b->Acquire("orders"));
  EXPECT_FALSE(other.acquired());
  ASSERT_EQ(other.state().holders.size(), 1u);
  EXPECT_EQ(other.state().holders[0].session_id, a->id());
  EXPECT_EQ(other.state().holders[0].client_name, "alpha");

  ASSERT_OK_AND_ASSIGN(SemaphoreInfo info, b->Test("orders"));
  EXPECT_TRUE(info.set);
  EXPECT_EQ(info.limit, 1);
  ASSERT_OK_AND_ASSIGN(SemaphoreInfo unary, client_->Test("orders"));
  EXPECT_TRUE(unary.set);
  EXPECT_THAT(client_->Ping(), IsOk());

  EXPECT_THAT(b->Clear("orders"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr(a->id())));
  EXPECT_THAT(b->Clear("nothing-here"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(a->Clear("orders"), IsOk());
  EXPECT_FALSE(permit.held());
  ASSERT_OK_AND_ASSIGN(Permit now, b->Acquire("orders"));
  EXPECT_TRUE(now.acquired());
  EXPECT_GT(now.fencing_token(), permit.fencing_token());
}

TEST_F(ClientIntegrationTest, APermitReleasesOnDestructionAndHandsOnToAWaiter) {
  auto a = Open("alpha");
  auto b = Open("beta");
  auto held = std::make_unique<Permit>();
  ASSERT_OK_AND_ASSIGN(*held, a->Acquire("handoff"));
  absl::StatusOr<Permit> waited;
  std::thread waiter([&] { waited = b->Acquire("handoff", Wait(kWait)); });
  ASSERT_TRUE(AwaitWaiters("handoff", 1));
  held.reset();
  waiter.join();
  ASSERT_THAT(waited, IsOk());
  EXPECT_TRUE(waited->acquired());
  ASSERT_OK_AND_ASSIGN(bool clear, a->WaitClear("handoff", absl::ZeroDuration()));
  EXPECT_FALSE(clear);
}

TEST_F(ClientIntegrationTest, ManySessionsOnManyThreadsExcludeEachOther) {
  constexpr int kSessions = 16;
  constexpr int kRounds = 40;
  std::vector<std::unique_ptr<Session>> sessions;
  for (int i = 0; i < kSessions; ++i) sessions.push_back(Open("worker-" + std::to_string(i)));
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  std::atomic<int> grants{0};
  std::atomic<int> failures{0};
  // Written only inside the critical section; atomic because the happens-before
  // between holders goes through the server, which a race detector cannot see.
  std::atomic<uint64_t> last_token{0};
  std::atomic<int> token_regressions{0};
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int i = 0; i < kSessions; ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0; round < kRounds; ++round) {
        auto permit = sessions[i]->Acquire("contended", Wait(kWait));
        if (!permit.ok() || !permit->acquired()) {
          ++failures;
          continue;
        }
        if (inside.fetch_add(1) != 0) ++overlaps;
        if (permit->fencing_token() <= last_token.load()) ++token_regressions;
        last_token.store(permit->fencing_token());
        ++grants;
        inside.fetch_sub(1);
      }  // the Permit releases here
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(token_regressions.load(), 0);
  EXPECT_EQ(grants.load(), kSessions * kRounds);
  EXPECT_LT(absl::Now() - start, kWait);
  // The last release went out without waiting for its answer; it does arrive.
  ASSERT_OK_AND_ASSIGN(bool clear, sessions[0]->WaitClear("contended", kWait));
  EXPECT_TRUE(clear);
  EXPECT_FALSE(server_->core().Test("contended").set());
}

TEST_F(ClientIntegrationTest, WaitersAreGrantedInArrivalOrder) {
  auto holder = Open("holder");
  constexpr int kWaiters = 5;
  std::vector<std::unique_ptr<Session>> sessions;
  for (int i = 0; i < kWaiters; ++i) sessions.push_back(Open("w" + std::to_string(i)));
  auto first = std::make_unique<Permit>();
  ASSERT_OK_AND_ASSIGN(*first, holder->Acquire("fifo"));
  absl::Mutex mu;
  std::vector<int> order;
  std::vector<std::thread> threads;
  for (int i = 0; i < kWaiters; ++i) {
    threads.emplace_back([&, i] {
      auto permit = sessions[i]->Acquire("fifo", Wait(kWait));
      ASSERT_THAT(permit, IsOk());
      ASSERT_TRUE(permit->acquired());
      absl::MutexLock lock(&mu);
      order.push_back(i);
    });
    ASSERT_TRUE(AwaitWaiters("fifo", i + 1));
  }
  first.reset();
  for (auto& t : threads) t.join();
  EXPECT_THAT(order, ::testing::ElementsAre(0, 1, 2, 3, 4));
}

TEST_F(ClientIntegrationTest, AForceClearIsReportedAsRevoked) {
  Seen seen;
  auto a = Open("alpha", &seen);
  ASSERT_OK_AND_ASSIGN(Permit permit, a->Acquire("revoke-me"));
  ASSERT_THAT(server_->core().ForceClear("revoke-me", "operator says so"), IsOk());
  ASSERT_TRUE(seen.AwaitRevoked());
  {
    absl::MutexLock lock(&seen.mu);
    EXPECT_EQ(seen.revoked[0], "revoke-me");
    EXPECT_THAT(seen.revoked_status,
                StatusIs(absl::StatusCode::kAborted, HasSubstr("operator says so")));
  }
  EXPECT_FALSE(permit.held());
  EXPECT_THAT(permit.status(), StatusIs(absl::StatusCode::kAborted));
  EXPECT_THAT(a->status(), IsOk());
  auto b = Open("beta");
  ASSERT_OK_AND_ASSIGN(Permit now, b->Acquire("revoke-me"));
  EXPECT_TRUE(now.acquired());
}

TEST_F(ClientIntegrationTest, ASessionEndedByTheServerIsLost) {
  Seen seen;
  auto a = Open("alpha", &seen);
  ASSERT_OK_AND_ASSIGN(Permit permit, a->Acquire("lost-one"));
  ASSERT_OK_AND_ASSIGN(Permit local, a->Acquire("$lost-local"));
  ASSERT_THAT(server_->core().EndSession(IdOf(*a), "maintenance"), IsOk());
  ASSERT_TRUE(seen.AwaitLost());
  EXPECT_TRUE(IsSessionLost(a->status()));
  EXPECT_FALSE(permit.held());
  EXPECT_TRUE(IsSessionLost(permit.status()));
  EXPECT_TRUE(local.held());  // local semaphores are not the server's
  absl::Status clear = a->Clear("lost-one");
  EXPECT_TRUE(IsSessionLost(clear)) << clear;
  EXPECT_THAT(clear, StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("maintenance")));
  EXPECT_TRUE(IsSessionLost(a->Acquire("other").status()));
  EXPECT_TRUE(IsSessionLost(a->Close()));
  absl::MutexLock lock(&seen.mu);
  EXPECT_EQ(seen.lost, 1);
}

TEST_F(ClientIntegrationTest, ADrainingServerEndsSessionsAndWakesWaiters) {
  Seen seen;
  auto a = Open("alpha");
  auto b = Open("beta", &seen);
  ASSERT_OK_AND_ASSIGN(Permit held, a->Acquire("drain"));
  absl::StatusOr<Permit> waited;
  std::thread waiter([&] { waited = b->Acquire("drain", Wait(kWait)); });
  ASSERT_TRUE(AwaitWaiters("drain", 1));
  server_->Drain();
  waiter.join();
  EXPECT_THAT(waited, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("shutting down")));
  ASSERT_TRUE(seen.AwaitLost());
  EXPECT_TRUE(IsSessionLost(b->status()));
  EXPECT_THAT(client_->OpenSession(), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(ClientIntegrationTest, AnotherThreadCancelsAWaitingAcquire) {
  auto a = Open("alpha");
  auto b = Open("beta");
  ASSERT_OK_AND_ASSIGN(Permit held, a->Acquire("cancel"));
  auto cancel = std::make_shared<CancelToken>();
  AcquireOptions options = Wait(absl::InfiniteDuration());
  options.cancel = cancel;
  absl::StatusOr<Permit> waited;
  std::thread waiter([&] { waited = b->Acquire("cancel", options); });
  ASSERT_TRUE(AwaitWaiters("cancel", 1));
  cancel->Cancel();
  waiter.join();
  EXPECT_THAT(waited, StatusIs(absl::StatusCode::kCancelled));
  EXPECT_EQ(server_->core().Test("cancel").waiter_count, 0);
  EXPECT_THAT(b->status(), IsOk());  // the session goes on
  ASSERT_OK_AND_ASSIGN(Permit tried, b->Acquire("cancel"));
  EXPECT_FALSE(tried.acquired());
}

TEST_F(ClientIntegrationTest, TimedWaitAndWaitClearTimeOut) {
  auto a = Open("alpha");
  auto b = Open("beta");
  ASSERT_OK_AND_ASSIGN(Permit held, a->Acquire("timed"));
  const absl::Time start = absl::Now();
  ASSERT_OK_AND_ASSIGN(Permit tried, b->Acquire("timed", Wait(absl::Milliseconds(200))));
  EXPECT_FALSE(tried.acquired());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
  ASSERT_OK_AND_ASSIGN(bool clear, b->WaitClear("timed", absl::Milliseconds(100)));
  EXPECT_FALSE(clear);
}

TEST_F(ClientIntegrationTest, KeepalivesHoldAShortTtlSession) {
  auto a = Open("alpha", nullptr, absl::Milliseconds(300));
  auto b = Open("beta");
  ASSERT_OK_AND_ASSIGN(Permit held, a->Acquire("kept"));
  // Four TTLs go by: without keepalives the server would end the session.
  ASSERT_OK_AND_ASSIGN(bool clear, b->WaitClear("kept", absl::Milliseconds(1200)));
  EXPECT_FALSE(clear);
  EXPECT_TRUE(held.held());
  EXPECT_THAT(a->status(), IsOk());
}

TEST_F(ClientIntegrationTest, OneSessionServesManyThreadsAtOnce) {
  auto a = Open("busy");
  constexpr int kThreads = 8;
  constexpr int kRounds = 25;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      const std::string name = "mine-" + std::to_string(i);
      for (int round = 0; round < kRounds; ++round) {
        auto permit = a->Acquire(name);
        if (!permit.ok() || !permit->acquired()) ++errors;
        auto info = a->Test(name);
        if (!info.ok() || !info->set) ++errors;
        if (!permit.ok() || !permit->Release().ok()) ++errors;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(server_->core().Counts().held_semaphores, 0);
}

TEST_F(ClientIntegrationTest, ClosingOrDestroyingASessionEndsItOnTheServer) {
  const int64_t before = server_->core().Counts().sessions;
  auto a = Open("alpha");
  ASSERT_OK_AND_ASSIGN(Permit held, a->Acquire("closing"));
  EXPECT_EQ(server_->core().Counts().sessions, before + 1);
  EXPECT_THAT(a->Close(), IsOk());
  EXPECT_EQ(server_->core().Counts().sessions, before);
  EXPECT_FALSE(server_->core().Test("closing").set());
  {
    auto b = Open("beta");
    ASSERT_OK_AND_ASSIGN(Permit other, b->Acquire("closing"));
  }
  EXPECT_EQ(server_->core().Counts().sessions, before);
}

TEST(ClientConnectTest, AnAddressWhereNobodyListensSaysItCannotConnect) {
  // A port that was free a moment ago, and port 1 (never a semaphored server).
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string free_port = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  close(fd);

  for (const std::string& address : {std::string("127.0.0.1:1"), free_port}) {
    SCOPED_TRACE(address);
    ClientOptions options;
    options.address = address;
    options.connect_timeout = absl::Seconds(1);
    const absl::Time start = absl::Now();
    auto client = Client::Connect(options);
    const absl::Duration took = absl::Now() - start;
    EXPECT_THAT(client, StatusIs(absl::StatusCode::kUnavailable,
                                 HasSubstr("cannot connect to " + address)));
    EXPECT_LT(took, absl::Seconds(4));  // the 1 s timeout, one 1 s probe, slack
  }
  EXPECT_THAT(Client::Connect(ClientOptions{}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
}

}  // namespace
}  // namespace semaphored
