// Tests of the engine Core: grants, queues, timeouts, cancels, clears, wait-for-clear, tokens.

#include "engine/core.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/status_matchers.h"
#include "tests/engine/core_test_util.h"

namespace semaphored::internal {

using engine::SemaphoreSnapshot;
using engine::SetOutcome;
using engine::WaiterId;

namespace {

using ::semaphored::testing::IsOk;
using ::semaphored::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::AllOf;

class CoreTest : public CoreTestBase {};

TEST_F(CoreTest, SetOnFreeSemaphoreGrantsAtOnce) {
  SessionId s = Open("alice");
  ASSERT_OK_AND_ASSIGN(SetOutcome out, SetNow(s, Args("printer")));
  EXPECT_TRUE(out.acquired);
  EXPECT_FALSE(out.already_held);
  EXPECT_EQ(out.grant.permits, 1);
  EXPECT_GT(out.grant.fencing_token, 0u);
  EXPECT_EQ(out.grant.grant_time, clock_.Now());

  SemaphoreSnapshot snap = core_.Test("printer");
  EXPECT_TRUE(snap.set());
  EXPECT_EQ(snap.limit, 1);
  ASSERT_EQ(snap.holders.size(), 1u);
  EXPECT_EQ(snap.holders[0].session_id, s);
  EXPECT_EQ(snap.holders[0].client_name, "alice");
}

TEST_F(CoreTest, TryOnSetSemaphoreIsANormalAnswerNamingTheHolder) {
  SessionId a = Open("alice");
  SessionId b = Open("bob");
  ASSERT_THAT(SetNow(a, Args("x")), IsOk());
  ASSERT_OK_AND_ASSIGN(SetOutcome out, SetNow(b, Args("x")));
  EXPECT_FALSE(out.acquired);
  ASSERT_EQ(out.state.holders.size(), 1u);
  EXPECT_EQ(out.state.holders[0].client_name, "alice");
  EXPECT_EQ(core_.Test("x").waiter_count, 0);
}

TEST_F(CoreTest, SettingYourOwnSemaphoreAgainTakesNoOtherPermit) {
  SessionId a = Open();
  ASSERT_OK_AND_ASSIGN(SetOutcome first, SetNow(a, Args("x", absl::InfinitePast(), 1, 3)));
  ASSERT_OK_AND_ASSIGN(SetOutcome again, SetNow(a, Args("x")));
  EXPECT_TRUE(again.acquired);
  EXPECT_TRUE(again.already_held);
  EXPECT_EQ(again.grant.fencing_token, first.grant.fencing_token);
  EXPECT_EQ(core_.Test("x").permits_held, 1);
}

TEST_F(CoreTest, ReleaseHandsOnToWaitersInArrivalOrder) {
  SessionId holder = Open();
  ASSERT_THAT(SetNow(holder, Args("x")), IsOk());
  std::vector<SessionId> sessions;
  std::vector<SetAnswer> answers(5);
  for (int i = 0; i < 5; ++i) {
    sessions.push_back(Open("w" + std::to_string(i)));
    SetWait(sessions[i], "x", answers[i]);
  }
  EXPECT_EQ(core_.Test("x").waiter_count, 5);
  SessionId current = holder;
  uint64_t last_token = 0;
  for (int i = 0; i < 5; ++i) {
    SCOPED_TRACE(i);
    ASSERT_THAT(core_.Clear(current, "x"), IsOk());
    for (int j = 0; j < 5; ++j) EXPECT_EQ(answers[j].done(), j <= i) << "waiter " << j;
    ASSERT_THAT(*answers[i].value, IsOk());
    EXPECT_TRUE(answers[i].value->value().acquired);
    EXPECT_GT(answers[i].value->value().grant.fencing_token, last_token);
    last_token = answers[i].value->value().grant.fencing_token;
    current = sessions[i];
  }
  ASSERT_THAT(core_.Clear(current, "x"), IsOk());
  EXPECT_EQ(core_.Counts().semaphores, 0);
}

TEST_F(CoreTest, StrictFifoHeadBlocksSmallerLaterRequests) {
  SessionId a = Open();
  SessionId b = Open();
  SessionId c = Open();
  ASSERT_THAT(SetNow(a, Args("pool", absl::InfinitePast(), 2, 3)), IsOk());
  SetAnswer big, small;
  SetWait(b, "pool", big, absl::InfiniteDuration(), 2);
  // One permit is free, but the head needs two: the later request must not barge.
  SetWait(c, "pool", small, absl::InfiniteDuration(), 1);
  EXPECT_FALSE(small.done());
  ASSERT_OK_AND_ASSIGN(SetOutcome try_one, SetNow(Open(), Args("pool")));
  EXPECT_FALSE(try_one.acquired) << "a try must not overtake the queue";
  ASSERT_THAT(core_.Clear(a, "pool"), IsOk());
  ASSERT_TRUE(big.done());
  ASSERT_TRUE(small.done());
  EXPECT_EQ(core_.Test("pool").permits_held, 3);
}

TEST_F(CoreTest, CountingSemaphoreGrantsUpToItsLimit) {
  std::vector<SessionId> s;
  for (int i = 0; i < 4; ++i) s.push_back(Open());
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(SetOutcome out, SetNow(s[i], Args("pool", absl::InfinitePast(), 1, 3)));
    EXPECT_TRUE(out.acquired);
  }
  ASSERT_OK_AND_ASSIGN(SetOutcome fourth, SetNow(s[3], Args("pool")));
  EXPECT_FALSE(fourth.acquired);
  EXPECT_EQ(fourth.state.permits_held, 3);
  EXPECT_EQ(fourth.state.holders.size(), 3u);
}

TEST_F(CoreTest, LimitMismatchFailsNamingBothLimits) {
  SessionId a = Open();
  ASSERT_THAT(SetNow(a, Args("pool", absl::InfinitePast(), 1, 3)), IsOk());
  EXPECT_THAT(SetNow(Open(), Args("pool", absl::InfinitePast(), 1, 2)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("limit 3"), HasSubstr("limit 2"), HasSubstr("pool"))));
}

TEST_F(CoreTest, ASemaphoreMadeAfterOneWasErasedStartsAfresh) {
  // The core reuses the record of an erased semaphore: nothing of it may show.
  SessionId a = Open("alice");
  ASSERT_THAT(SetNow(a, Args("a-rather-long-semaphore-name", absl::InfinitePast(), 2, 3)),
              IsOk());
  ASSERT_THAT(core_.Clear(a, "a-rather-long-semaphore-name"), IsOk());
  EXPECT_EQ(core_.Counts().semaphores, 0);

  SessionId b = Open("bob");
  ASSERT_OK_AND_ASSIGN(SetOutcome out, SetNow(b, Args("short", absl::InfinitePast(), 1, 2)));
  EXPECT_TRUE(out.acquired);
  SemaphoreSnapshot snap = core_.Test("short");
  EXPECT_EQ(snap.name, "short");
  EXPECT_EQ(snap.limit, 2);
  EXPECT_EQ(snap.permits_held, 1);
  ASSERT_EQ(snap.holders.size(), 1u);
  EXPECT_EQ(snap.holders[0].client_name, "bob");
  EXPECT_EQ(snap.waiter_count, 0);
  EXPECT_FALSE(core_.Test("a-rather-long-semaphore-name").set());
  EXPECT_THAT(core_.Clear(a, "short"), StatusIs(absl::StatusCode::kPermissionDenied));
  ASSERT_THAT(core_.Clear(b, "short"), IsOk());
  EXPECT_EQ(core_.Counts().semaphores, 0);
}

TEST_F(CoreTest, BadPermitsAndLimitsAreRejected) {
  SessionId a = Open();
  struct Case {
    const char* what;
    int32_t permits;
    std::optional<int32_t> limit;
    const char* message;
  } cases[] = {
      {"zero permits", 0, std::nullopt, "at least 1"},
      {"negative permits", -2, std::nullopt, "at least 1"},
      {"permits above limit", 3, 2, "more than its limit 2"},
      {"permits above default limit", 2, std::nullopt, "more than its limit 1"},
      {"zero limit", 1, 0, "limit must be 1 to"},
      {"negative limit", 1, -1, "limit must be 1 to"},
      {"huge limit", 1, kMaxLimit + 1, "limit must be 1 to"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    EXPECT_THAT(SetNow(a, Args("x", absl::InfinitePast(), c.permits, c.limit)),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)));
  }
  EXPECT_EQ(core_.Counts().semaphores, 0);
}

TEST_F(CoreTest, TimedWaitAnswersNotAcquiredAtItsDeadlineAndLeavesTheQueue) {
  SessionId a = Open();
  SessionId b = Open();
  ASSERT_THAT(SetNow(a, Args("x")), IsOk());
  SetAnswer answer;
  SetWait(b, "x", answer, absl::Milliseconds(500));
  EXPECT_EQ(core_.NextDeadline(), clock_.Now() + absl::Milliseconds(500));
  Advance(absl::Milliseconds(499));
  EXPECT_FALSE(answer.done());
  Advance(absl::Milliseconds(1));
  ASSERT_TRUE(answer.done());
  ASSERT_THAT(*answer.value, IsOk());
  EXPECT_FALSE(answer.value->value().acquired);
  EXPECT_EQ(core_.Test("x").waiter_count, 0);
}

TEST_F(CoreTest, CancelAnswersCancelledAndLetsTheNextWaiterIn) {
  SessionId a = Open();
  ASSERT_THAT(SetNow(a, Args("pool", absl::InfinitePast(), 1, 2)), IsOk());
  SetAnswer big, small;
  WaiterId big_id = SetWait(Open(), "pool", big, absl::InfiniteDuration(), 2);
  SetWait(Open(), "pool", small);
  core_.Cancel(big_id);
  ASSERT_TRUE(big.done());
  EXPECT_THAT(*big.value, StatusIs(absl::StatusCode::kCancelled, HasSubstr("pool")));
  ASSERT_TRUE(small.done()) << "the head left, so the next request fits";
  EXPECT_TRUE(small.value->value().acquired);
  core_.Cancel(big_id);  // already answered: nothing happens
}

TEST_F(CoreTest, ClearByAnotherSessionIsDeniedNamingTheHolder) {
  SessionId a = Open("alice");
  ASSERT_THAT(SetNow(a, Args("x")), IsOk());
  EXPECT_THAT(core_.Clear(Open("mallory"), "x"),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr(FormatSessionId(a)), HasSubstr("alice"))));
  EXPECT_TRUE(core_.Test("x").set());
}

TEST_F(CoreTest, ClearOfASemaphoreNotSetIsNotFound) {
  EXPECT_THAT(core_.Clear(Open(), "nothing"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("not set")));
}

TEST_F(CoreTest, ClearReleasesAllPermitsOfTheSession) {
  SessionId a = Open();
  ASSERT_THAT(SetNow(a, Args("pool", absl::InfinitePast(), 3, 5)), IsOk());
  ASSERT_OK_AND_ASSIGN(int32_t released, core_.Clear(a, "pool"));
  EXPECT_EQ(released, 3);
  EXPECT_EQ(core_.Test("pool").limit, 0) << "an unused semaphore ceases to exist";
}

TEST_F(CoreTest, WaitClearAnswersAtOnceWhenNotSetAndOnReleaseOtherwise) {
  SessionId a = Open();
  SessionId b = Open();
  ClearAnswer now;
  EXPECT_EQ(core_.WaitClear(b, {"x", {absl::InfiniteDuration()}}, now.Callback()), 0u);
  ASSERT_TRUE(now.done());
  EXPECT_TRUE(now.value->value().clear);

  ASSERT_THAT(SetNow(a, Args("x")), IsOk());
  ClearAnswer later;
  EXPECT_NE(core_.WaitClear(b, {"x", {absl::InfiniteDuration()}}, later.Callback()), 0u);
  EXPECT_FALSE(later.done());
  EXPECT_FALSE(core_.Test("x").waiter_count) << "wait-for-clear does not count as a set waiter";
  ASSERT_THAT(core_.Clear(a, "x"), IsOk());
  ASSERT_TRUE(later.done());
  EXPECT_TRUE(later.value->value().clear);
  EXPECT_EQ(core_.Counts().semaphores, 0);
}

TEST_F(CoreTest, WaitClearTimesOutWhileStillSet) {
  SessionId a = Open();
  ASSERT_THAT(SetNow(a, Args("x")), IsOk());
  ClearAnswer answer;
  core_.WaitClear(Open(), {"x", {absl::Seconds(1)}}, answer.Callback());
  Advance(absl::Seconds(1));
  ASSERT_TRUE(answer.done());
  EXPECT_FALSE(answer.value->value().clear);
  EXPECT_TRUE(answer.value->value().state.set());
}

TEST_F(CoreTest, WaitClearIsNotAnsweredWhileTheSemaphoreIsHandedOn) {
  SessionId a = Open();
  SessionId b = Open();
  ASSERT_THAT(SetNow(a, Args("x")), IsOk());
  SetAnswer next;
  SetWait(b, "x", next);
  ClearAnswer clear;
  core_.WaitClear(Open(), {"x", {absl::InfiniteDuration()}}, clear.Callback());
  ASSERT_THAT(core_.Clear(a, "x"), IsOk());
  EXPECT_TRUE(next.done());
  EXPECT_FALSE(clear.done()) << "the semaphore went straight to the next waiter";
  ASSERT_THAT(core_.Clear(b, "x"), IsOk());
  EXPECT_TRUE(clear.done());
}

TEST_F(CoreTest, FencingTokensStrictlyIncrease) {
  SessionId a = Open();
  uint64_t last = 0;
  for (int i = 0; i < 100; ++i) {
    ASSERT_OK_AND_ASSIGN(SetOutcome out, SetNow(a, Args("n" + std::to_string(i % 7))));
    if (out.already_held) continue;
    EXPECT_GT(out.grant.fencing_token, last);
    last = out.grant.fencing_token;
    if (i % 2 == 0) {
      ASSERT_THAT(core_.Clear(a, "n" + std::to_string(i % 7)), IsOk());
    }
  }
}

TEST_F(CoreTest, TwoRequestsOfOneSessionAreBothAnsweredByOneGrant) {
  SessionId a = Open();
  SessionId b = Open();
  ASSERT_THAT(SetNow(a, Args("x")), IsOk());
  SetAnswer first, second;
  SetWait(b, "x", first);
  SetWait(b, "x", second);
  ASSERT_THAT(core_.Clear(a, "x"), IsOk());
  ASSERT_TRUE(first.done());
  ASSERT_TRUE(second.done());
  EXPECT_FALSE(first.value->value().already_held);
  EXPECT_TRUE(second.value->value().already_held);
  EXPECT_EQ(first.value->value().grant.fencing_token,
            second.value->value().grant.fencing_token);
  EXPECT_EQ(core_.Test("x").permits_held, 1);
}

TEST_F(CoreTest, CallbacksRunWithoutTheLockSoTheyMayCallBack) {
  SessionId a = Open();
  SessionId b = Open();
  ASSERT_THAT(SetNow(a, Args("x")), IsOk());
  bool cleared_inside = false;
  core_.Set(b, Args("x", absl::InfiniteFuture()), [&](absl::StatusOr<SetOutcome> out) {
    ASSERT_THAT(out, IsOk());
    cleared_inside = core_.Clear(b, "x").ok();  // would deadlock under the lock
  });
  ASSERT_THAT(core_.Clear(a, "x"), IsOk());
  EXPECT_TRUE(cleared_inside);
}

}  // namespace
}  // namespace semaphored::internal
