// Local '$' semaphores through the public API: the same semantics as global ones,
// served in-process. Timed waits run on a FakeClock (see local_test_util.h).

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "local_test_util.h"
#include "semaphored/semaphored.h"
#include "tests/common/status_matchers.h"

namespace semaphored {
namespace {

using ::semaphored::internal::testing::FakeLocalClient;
using ::semaphored::testing::IsOk;
using ::semaphored::testing::StatusIs;
using ::testing::HasSubstr;

MATCHER_P(IsOkAndHolds, value, "") {
  *result_listener << "is " << (arg.ok() ? ::testing::PrintToString(*arg)
                                         : arg.status().ToString());
  return arg.ok() && *arg == value;
}

AcquireOptions Wait(absl::Duration timeout) {
  AcquireOptions options;
  options.timeout = timeout;
  return options;
}

TEST(ClientLocalTest, TryGetsAFreeSemaphoreAndReportsTheHolderOfASetOne) {
  FakeLocalClient local;
  auto a = local.Open("alpha");
  auto b = local.Open("beta");
  ASSERT_OK_AND_ASSIGN(Permit permit, a->Acquire("$try"));
  EXPECT_TRUE(permit.acquired());
  EXPECT_TRUE(permit.held());
  EXPECT_THAT(permit.status(), IsOk());
  EXPECT_EQ(permit.name(), "$try");
  EXPECT_EQ(permit.permits(), 1);
  EXPECT_GT(permit.fencing_token(), 0u);
  EXPECT_FALSE(permit.already_held());

  ASSERT_OK_AND_ASSIGN(Permit other, b->Acquire("$try"));
  EXPECT_FALSE(other.acquired());
  EXPECT_FALSE(other.held());
  ASSERT_EQ(other.state().holders.size(), 1u);
  EXPECT_EQ(other.state().holders[0].session_id, a->local_id());
  EXPECT_EQ(other.state().holders[0].client_name, "alpha");
  EXPECT_EQ(other.state().holders[0].fencing_token, permit.fencing_token());
  EXPECT_THAT(other.status(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                       HasSubstr(a->local_id())));
}

TEST(ClientLocalTest, DestroyingThePermitReleasesIt) {
  FakeLocalClient local;
  auto a = local.Open("alpha");
  auto b = local.Open("beta");
  {
    ASSERT_OK_AND_ASSIGN(Permit permit, a->Acquire("$raii"));
    ASSERT_TRUE(permit.acquired());
    ASSERT_OK_AND_ASSIGN(SemaphoreInfo info, b->Test("$raii"));
    EXPECT_TRUE(info.set);
  }
  ASSERT_OK_AND_ASSIGN(SemaphoreInfo info, b->Test("$raii"));
  EXPECT_FALSE(info.set);
  EXPECT_EQ(info.limit, 0);  // a semaphore nobody holds or waits for does not exist
  ASSERT_OK_AND_ASSIGN(Permit permit, b->Acquire("$raii"));
  EXPECT_TRUE(permit.acquired());
}

TEST(ClientLocalTest, TimedWaitGivesUpAtItsDeadline) {
  FakeLocalClient local;
  auto a = local.Open("alpha");
  auto b = local.Open("beta");
  ASSERT_OK_AND_ASSIGN(Permit held, a->Acquire("$timed"));
  absl::StatusOr<Permit> waited;
  std::thread waiter([&] { waited = b->Acquire("$timed", Wait(absl::Seconds(5))); });
  ASSERT_TRUE(local.AwaitWaiters("$timed", 1));
  local.Advance(absl::Seconds(4));
  EXPECT_EQ(local.core().Test("$timed").waiter_count, 1);  // not yet
  local.Advance(absl::Seconds(2));
  waiter.join();
  ASSERT_THAT(waited, IsOk());
  EXPECT_FALSE(waited->acquired());
  EXPECT_EQ(waited->state().holders.size(), 1u);
  EXPECT_EQ(local.core().Test("$timed").waiter_count, 0);
}

TEST(ClientLocalTest, TimedWaitIsGrantedWhenTheHolderReleases) {
  FakeLocalClient local;
  auto a = local.Open("alpha");
  auto b = local.Open("beta");
  auto held = std::make_unique<Permit>();
  ASSERT_OK_AND_ASSIGN(*held, a->Acquire("$handoff"));
  absl::StatusOr<Permit> waited;
  std::thread waiter([&] { waited = b->Acquire("$handoff", Wait(absl::Seconds(5))); });
  ASSERT_TRUE(local.AwaitWaiters("$handoff", 1));
  const uint64_t first_token = held->fencing_token();
  held.reset();
  waiter.join();
  ASSERT_THAT(waited, IsOk());
  EXPECT_TRUE(waited->acquired());
  EXPECT_GT(waited->fencing_token(), first_token);
}

TEST(ClientLocalTest, WaitersAreGrantedInArrivalOrder) {
  FakeLocalClient local;
  auto holder = local.Open("holder");
  constexpr int kWaiters = 5;
  std::vector<std::unique_ptr<Session>> sessions;
  for (int i = 0; i < kWaiters; ++i) sessions.push_back(local.Open("w" + std::to_string(i)));
  auto first = std::make_unique<Permit>();
  ASSERT_OK_AND_ASSIGN(*first, holder->Acquire("$fifo"));

  absl::Mutex mu;
  std::vector<int> order;
  std::vector<std::thread> threads;
  for (int i = 0; i < kWaiters; ++i) {
    threads.emplace_back([&, i] {
      auto permit = sessions[i]->Acquire("$fifo", Wait(absl::InfiniteDuration()));
      ASSERT_THAT(permit, IsOk());
      ASSERT_TRUE(permit->acquired());
      absl::MutexLock lock(&mu);
      order.push_back(i);
    });  // the Permit is released here, handing on to the next waiter
    ASSERT_TRUE(local.AwaitWaiters("$fifo", i + 1));  // i queues before i + 1
  }
  first.reset();
  for (auto& t : threads) t.join();
  EXPECT_THAT(order, ::testing::ElementsAre(0, 1, 2, 3, 4));
}

TEST(ClientLocalTest, CountingSemaphoreHandsOutUpToItsLimit) {
  FakeLocalClient local;
  auto a = local.Open("a");
  auto b = local.Open("b");
  auto c = local.Open("c");
  AcquireOptions two;
  two.limit = 3;
  two.permits = 2;
  ASSERT_OK_AND_ASSIGN(Permit pa, a->Acquire("$pool", two));
  EXPECT_TRUE(pa.acquired());
  EXPECT_EQ(pa.permits(), 2);
  AcquireOptions one;
  one.limit = 3;
  ASSERT_OK_AND_ASSIGN(Permit pb, b->Acquire("$pool", one));
  EXPECT_TRUE(pb.acquired());
  ASSERT_OK_AND_ASSIGN(Permit pc, c->Acquire("$pool", one));
  EXPECT_FALSE(pc.acquired());
  EXPECT_EQ(pc.state().permits_held, 3);
  EXPECT_EQ(pc.state().limit, 3);
  EXPECT_EQ(pc.state().holders.size(), 2u);

  AcquireOptions mismatch;
  mismatch.limit = 5;
  EXPECT_THAT(c->Acquire("$pool", mismatch),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       ::testing::AllOf(HasSubstr("3"), HasSubstr("5"))));
  AcquireOptions too_many;
  too_many.limit = 3;
  too_many.permits = 4;
  EXPECT_THAT(c->Acquire("$pool2", too_many),
              StatusIs(absl::StatusCode::kInvalidArgument));
  AcquireOptions zero;
  zero.permits = 0;
  EXPECT_THAT(c->Acquire("$pool3", zero), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ClientLocalTest, ReacquiringByTheHolderSharesOneGrant) {
  FakeLocalClient local;
  auto a = local.Open("a");
  auto first = std::make_unique<Permit>();
  ASSERT_OK_AND_ASSIGN(*first, a->Acquire("$again"));
  ASSERT_OK_AND_ASSIGN(Permit second, a->Acquire("$again"));
  EXPECT_TRUE(second.acquired());
  EXPECT_TRUE(second.already_held());
  EXPECT_EQ(second.fencing_token(), first->fencing_token());
  first.reset();  // the other Permit still shares the grant
  EXPECT_TRUE(second.held());
  EXPECT_TRUE(local.core().Test("$again").set());
  ASSERT_THAT(second.Release(), IsOk());
  EXPECT_FALSE(local.core().Test("$again").set());
  EXPECT_THAT(second.status(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                        HasSubstr("released")));
  EXPECT_THAT(second.Release(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(ClientLocalTest, SetIsPinnedUntilClear) {
  FakeLocalClient local;
  auto a = local.Open("a");
  ASSERT_OK_AND_ASSIGN(SetResult set, a->Set("$pinned"));
  EXPECT_TRUE(set.acquired);
  EXPECT_GT(set.fencing_token, 0u);
  {
    ASSERT_OK_AND_ASSIGN(Permit permit, a->Acquire("$pinned"));
    EXPECT_TRUE(permit.already_held());
  }
  EXPECT_TRUE(local.core().Test("$pinned").set());  // the Permit did not release it
  ASSERT_OK_AND_ASSIGN(SetResult again, a->Set("$pinned"));
  EXPECT_TRUE(again.acquired);
  EXPECT_TRUE(again.already_held);
  EXPECT_THAT(a->Clear("$pinned"), IsOk());
  EXPECT_FALSE(local.core().Test("$pinned").set());
}

TEST(ClientLocalTest, OnlyTheHolderClears) {
  FakeLocalClient local;
  auto a = local.Open("a");
  auto b = local.Open("b");
  ASSERT_OK_AND_ASSIGN(Permit permit, a->Acquire("$owned"));
  EXPECT_THAT(b->Clear("$owned"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr(a->local_id())));
  EXPECT_TRUE(permit.held());
  EXPECT_THAT(b->Clear("$not-set"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(a->Clear("$owned"), IsOk());
  EXPECT_FALSE(permit.held());  // Clear ends the Permits sharing the grant
  EXPECT_THAT(permit.status(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(a->Clear("$owned"), StatusIs(absl::StatusCode::kNotFound));
}

TEST(ClientLocalTest, WaitClearReturnsWhenClearOrAtItsTimeout) {
  FakeLocalClient local;
  auto a = local.Open("a");
  auto b = local.Open("b");
  EXPECT_THAT(b->WaitClear("$wc", absl::ZeroDuration()), IsOkAndHolds(true));
  auto held = std::make_unique<Permit>();
  ASSERT_OK_AND_ASSIGN(*held, a->Acquire("$wc"));
  EXPECT_THAT(b->WaitClear("$wc", absl::ZeroDuration()), IsOkAndHolds(false));

  absl::StatusOr<bool> timed_out;
  std::thread t1([&] { timed_out = b->WaitClear("$wc", absl::Seconds(3)); });
  ASSERT_TRUE(local.AwaitAllWaiters(1));
  local.Advance(absl::Seconds(4));
  t1.join();
  EXPECT_THAT(timed_out, IsOkAndHolds(false));

  absl::StatusOr<bool> cleared;
  std::thread t2([&] { cleared = b->WaitClear("$wc"); });  // no limit
  ASSERT_TRUE(local.AwaitAllWaiters(1));
  held.reset();
  t2.join();
  EXPECT_THAT(cleared, IsOkAndHolds(true));
  EXPECT_FALSE(local.core().Test("$wc").set());  // it did not set it
}

TEST(ClientLocalTest, AnotherThreadCancelsAWait) {
  FakeLocalClient local;
  auto a = local.Open("a");
  auto b = local.Open("b");
  ASSERT_OK_AND_ASSIGN(Permit held, a->Acquire("$cancel"));
  auto cancel = std::make_shared<CancelToken>();
  AcquireOptions options = Wait(absl::InfiniteDuration());
  options.cancel = cancel;
  absl::StatusOr<Permit> waited;
  std::thread waiter([&] { waited = b->Acquire("$cancel", options); });
  ASSERT_TRUE(local.AwaitWaiters("$cancel", 1));
  cancel->Cancel();
  waiter.join();
  EXPECT_THAT(waited, StatusIs(absl::StatusCode::kCancelled));
  EXPECT_EQ(local.core().Test("$cancel").waiter_count, 0);  // left the queue at once
  // A cancelled token fails later calls at once.
  EXPECT_THAT(b->Acquire("$cancel", options), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(b->WaitClear("$cancel", absl::InfiniteDuration(), cancel),
              StatusIs(absl::StatusCode::kCancelled));
}

TEST(ClientLocalTest, AnotherThreadCancelsAWaitForClear) {
  FakeLocalClient local;
  auto a = local.Open("a");
  auto b = local.Open("b");
  ASSERT_OK_AND_ASSIGN(Permit held, a->Acquire("$cancel-wc"));
  auto cancel = std::make_shared<CancelToken>();
  absl::StatusOr<bool> waited;
  std::thread waiter(
      [&] { waited = b->WaitClear("$cancel-wc", absl::InfiniteDuration(), cancel); });
  ASSERT_TRUE(local.AwaitAllWaiters(1));
  cancel->Cancel();
  waiter.join();
  EXPECT_THAT(waited, StatusIs(absl::StatusCode::kCancelled));
}

TEST(ClientLocalTest, FencingTokensIncrease) {
  FakeLocalClient local;
  auto a = local.Open("a");
  uint64_t last = 0;
  for (int i = 0; i < 5; ++i) {
    SCOPED_TRACE(i);
    ASSERT_OK_AND_ASSIGN(Permit permit, a->Acquire(i % 2 == 0 ? "$f1" : "$f2"));
    EXPECT_GT(permit.fencing_token(), last);
    last = permit.fencing_token();
  }
}

TEST(ClientLocalTest, CloseReleasesEverythingAndFailsLaterCalls) {
  FakeLocalClient local;
  auto a = local.Open("a");
  auto b = local.Open("b");
  ASSERT_OK_AND_ASSIGN(Permit permit, a->Acquire("$closed"));
  absl::StatusOr<Permit> waited;
  std::thread waiter([&] { waited = b->Acquire("$closed", Wait(absl::Seconds(60))); });
  ASSERT_TRUE(local.AwaitWaiters("$closed", 1));
  EXPECT_THAT(a->Close(), IsOk());
  waiter.join();
  ASSERT_THAT(waited, IsOk());
  EXPECT_TRUE(waited->acquired());  // handed on at once
  EXPECT_FALSE(permit.held());
  EXPECT_THAT(permit.status(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                        HasSubstr("closed")));
  EXPECT_THAT(a->Acquire("$closed"), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(a->Set("$closed"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("closed")));
  EXPECT_THAT(a->Set("$free"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("closed")));
  // Held by b now: still "closed", not "held by another session".
  EXPECT_THAT(a->Clear("$closed"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("closed")));
  EXPECT_THAT(a->Test("$closed"), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(a->Close(), IsOk());  // idempotent
  EXPECT_FALSE(IsSessionLost(a->status()));
}

TEST(ClientLocalTest, CloseAnswersTheSessionsOwnWaiters) {
  FakeLocalClient local;
  auto a = local.Open("a");
  auto b = local.Open("b");
  ASSERT_OK_AND_ASSIGN(Permit held, b->Acquire("$own-waiter"));
  absl::StatusOr<Permit> waited;
  std::thread waiter(
      [&] { waited = a->Acquire("$own-waiter", Wait(absl::InfiniteDuration())); });
  ASSERT_TRUE(local.AwaitWaiters("$own-waiter", 1));
  EXPECT_THAT(a->Close(), IsOk());
  waiter.join();
  EXPECT_THAT(waited, StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("closed")));
}

TEST(ClientLocalTest, APermitMayOutliveItsSession) {
  FakeLocalClient local;
  Permit permit;
  {
    auto a = local.Open("a");
    ASSERT_OK_AND_ASSIGN(permit, a->Acquire("$outlive"));
  }
  EXPECT_FALSE(permit.held());
  EXPECT_FALSE(local.core().Test("$outlive").set());
  EXPECT_THAT(permit.Release(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(ClientLocalTest, MovingAPermitKeepsOneGrant) {
  FakeLocalClient local;
  auto a = local.Open("a");
  ASSERT_OK_AND_ASSIGN(Permit first, a->Acquire("$moved"));
  Permit second = std::move(first);
  EXPECT_TRUE(second.held());
  Permit third;
  third = std::move(second);
  EXPECT_TRUE(third.held());
  EXPECT_TRUE(local.core().Test("$moved").set());
  ASSERT_OK_AND_ASSIGN(Permit other, a->Acquire("$moved-other"));
  third = std::move(other);  // drops "$moved"
  EXPECT_FALSE(local.core().Test("$moved").set());
  EXPECT_TRUE(local.core().Test("$moved-other").set());
}

TEST(ClientLocalTest, TimeoutsMustBeZeroPositiveUpToADayOrInfinite) {
  FakeLocalClient local;
  auto a = local.Open("a");
  EXPECT_THAT(a->Acquire("$t", Wait(absl::Seconds(-1))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("negative")));
  EXPECT_THAT(a->Acquire("$t", Wait(absl::Hours(25))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("24h")));
  EXPECT_THAT(a->WaitClear("$t", absl::Seconds(-1)),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ClientLocalTest, AClientWithoutAServerRefusesGlobalNames) {
  FakeLocalClient local;
  auto a = local.Open("a");
  EXPECT_THAT(a->Acquire("global"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("no server")));
  EXPECT_THAT(local.client().Test("global"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(local.client().Ping(), IsOk());
  EXPECT_EQ(a->id(), a->local_id());
}

TEST(ClientLocalTest, TheProcessWideCoreServesEveryLocalClient) {
  // Two clients of one process share '$' semaphores: they are per process.
  auto c1 = Client::Local();
  auto c2 = Client::Local();
  ASSERT_OK_AND_ASSIGN(auto s1, c1->OpenSession());
  ASSERT_OK_AND_ASSIGN(auto s2, c2->OpenSession());
  ASSERT_OK_AND_ASSIGN(Permit permit, s1->Acquire("$process-wide"));
  ASSERT_TRUE(permit.acquired());
  ASSERT_OK_AND_ASSIGN(Permit other, s2->Acquire("$process-wide"));
  EXPECT_FALSE(other.acquired());
  EXPECT_FALSE(s1->client_name().empty());  // "HOST/PID" by default
}

}  // namespace
}  // namespace semaphored
