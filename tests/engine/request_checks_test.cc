// Tests of the engine's request checks: one message per rule.

#include "engine/request_checks.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/limits.h"
#include "engine/core.h"
#include "engine/counter_token_source.h"
#include "tests/common/status_matchers.h"
#include "tests/engine/core_test_util.h"

namespace semaphored::internal {
namespace {

using engine::CheckSetArgs;
using engine::CheckWaitClearArgs;
using engine::SetArgs;
using engine::WaitClearArgs;
using engine::WaitEnd;
using engine::WaitLimit;
using ::semaphored::testing::IsOk;
using ::semaphored::testing::StatusIs;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;
const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);

SetArgs Set(std::optional<int32_t> limit, int32_t permits,
            absl::Duration timeout = absl::ZeroDuration()) {
  SetArgs args;
  args.name = "s";
  args.limit = limit;
  args.permits = permits;
  args.wait.timeout = timeout;
  return args;
}

// Each rule has exactly one message, whichever side sends the request.
TEST(RequestChecksTest, EachRuleHasOneMessage) {
  struct Case {
    std::string label;
    SetArgs args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"zero limit", Set(0, 1),
       "limit 0 for semaphore \"s\" is out of range: the limit must be 1 to 1000000"},
      {"limit over the maximum", Set(kMaxLimit + 1, 1),
       "limit 1000001 for semaphore \"s\" is out of range: the limit must be 1 to "
       "1000000"},
      {"zero permits", Set(std::nullopt, 0),
       "permits 0 for semaphore \"s\" is out of range: it must be at least 1 and at "
       "most 1000000"},
      {"permits over the maximum", Set(std::nullopt, kMaxLimit + 1),
       "permits 1000001 for semaphore \"s\" is out of range: it must be at least 1 and "
       "at most 1000000"},
      {"permits over the limit", Set(2, 3),
       "permits 3 for semaphore \"s\" is more than its limit 2: ask for at most the "
       "limit"},
      {"negative timeout", Set(std::nullopt, 1, absl::Seconds(-1)),
       "timeout -1s for semaphore \"s\" is negative: it must be 0 to 24h, or infinite "
       "to wait without a limit"},
      {"timeout over the maximum", Set(std::nullopt, 1, absl::Hours(25)),
       "timeout 25h for semaphore \"s\" is out of range: it must be 0 to 24h, or "
       "infinite to wait without a limit"},
      {"limit is checked first", Set(0, 0, absl::Seconds(-1)),
       "limit 0 for semaphore \"s\" is out of range: the limit must be 1 to 1000000"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    EXPECT_EQ(CheckSetArgs(c.args), absl::InvalidArgumentError(c.message));
  }
  EXPECT_EQ(engine::CheckTtlNotNegative(absl::Seconds(-1)),
            absl::InvalidArgumentError("ttl -1s is negative: give a positive session "
                                       "TTL, or leave it unset for the server's default"));
  EXPECT_EQ(engine::CheckTtlInRange(absl::Hours(2), absl::Seconds(1), absl::Hours(1)),
            absl::InvalidArgumentError(
                "session TTL 2h is outside this server's range 1s to 1h"));
}

TEST(RequestChecksTest, AcceptsTheBoundsAndInfiniteWaits) {
  for (const SetArgs& args :
       {Set(std::nullopt, 1), Set(1, 1), Set(kMaxLimit, kMaxLimit),
        Set(std::nullopt, kMaxLimit), Set(std::nullopt, 1, kMaxWait),
        Set(std::nullopt, 1, absl::InfiniteDuration()), Set(3, 2, absl::Nanoseconds(1))}) {
    SCOPED_TRACE(args.permits);
    EXPECT_THAT(CheckSetArgs(args), IsOk());
  }
  EXPECT_THAT(engine::CheckTtlNotNegative(absl::ZeroDuration()), IsOk());
  EXPECT_THAT(engine::CheckTtlInRange(absl::Hours(1), absl::Seconds(1), absl::Hours(1)),
              IsOk());
}

TEST(RequestChecksTest, WaitIndefinitelyStillChecksTheTimeout) {
  WaitClearArgs args;
  args.name = "w";
  args.wait.indefinitely = true;
  EXPECT_THAT(CheckWaitClearArgs(args), IsOk());
  args.wait.timeout = absl::Hours(25);
  EXPECT_THAT(CheckWaitClearArgs(args), StatusIs(kInvalid));
  args.wait.timeout = absl::Seconds(-1);
  EXPECT_THAT(CheckWaitClearArgs(args), StatusIs(kInvalid));
}

TEST(RequestChecksTest, WaitEndCombinesTimeoutAndDeadline) {
  struct Case {
    std::string label;
    WaitLimit wait;
    absl::Time want;
  };
  const absl::Time inf = absl::InfiniteFuture();
  const absl::Time past = absl::InfinitePast();
  const std::vector<Case> cases = {
      {"zero: try once", {absl::ZeroDuration(), inf}, past},
      {"zero with a deadline: try once", {absl::ZeroDuration(), kNow + absl::Seconds(1)},
       past},
      {"timeout", {absl::Seconds(5), inf}, kNow + absl::Seconds(5)},
      {"deadline first", {absl::Seconds(5), kNow + absl::Seconds(1)},
       kNow + absl::Seconds(1)},
      {"timeout first", {absl::Seconds(1), kNow + absl::Seconds(5)},
       kNow + absl::Seconds(1)},
      {"deadline passed", {absl::Seconds(1), kNow - absl::Seconds(1)},
       kNow - absl::Seconds(1)},
      {"infinite", {absl::InfiniteDuration(), inf}, inf},
      {"infinite within a deadline", {absl::InfiniteDuration(), kNow + absl::Seconds(2)},
       kNow + absl::Seconds(2)},
      {"indefinitely ignores the timeout", {absl::Seconds(3), inf, true}, inf},
      {"indefinitely with zero timeout", {absl::ZeroDuration(), kNow + absl::Seconds(2),
                                          true},
       kNow + absl::Seconds(2)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    EXPECT_EQ(WaitEnd(c.wait, kNow), c.want);
  }
}

class RequestChecksCoreTest : public CoreTestBase {};

// The core checks its arguments before anything else: an unknown session or a
// draining core does not hide a bad request, and nothing is created.
TEST_F(RequestChecksCoreTest, TheCoreChecksArgumentsFirst) {
  const SessionId unknown = 12345;
  SetAnswer set;
  EXPECT_EQ(core_.Set(unknown, Set(std::nullopt, 0), set.Callback()), 0u);
  ASSERT_TRUE(set.done());
  EXPECT_THAT(*set.value, StatusIs(kInvalid, ::testing::HasSubstr("permits 0")));

  core_.Drain();
  ClearAnswer wait;
  EXPECT_EQ(core_.WaitClear(unknown, {"w", {absl::Hours(25)}}, wait.Callback()), 0u);
  ASSERT_TRUE(wait.done());
  EXPECT_THAT(*wait.value, StatusIs(kInvalid, ::testing::HasSubstr("timeout 25h")));
  EXPECT_EQ(core_.Counts().semaphores, 0);
}

// A timed wait ends by the core's own clock, `timeout` after the request arrived.
TEST_F(RequestChecksCoreTest, TheCoreTimesWaitsByItsOwnClock) {
  const SessionId a = Open("a");
  const SessionId b = Open("b");
  ASSERT_THAT(SetNow(a, Args("s")), IsOk());
  SetAnswer queued;
  ASSERT_NE(core_.Set(b, Set(std::nullopt, 1, absl::Seconds(5)), queued.Callback()), 0u);
  Advance(absl::Seconds(5) - absl::Nanoseconds(1));
  EXPECT_FALSE(queued.done());
  Advance(absl::Nanoseconds(1));
  ASSERT_TRUE(queued.done());
  ASSERT_THAT(*queued.value, IsOk());
  EXPECT_FALSE((*queued.value)->acquired);
}

// Sessions that never expire (the in-process engine) take any non-negative TTL.
TEST(RequestChecksInProcessTest, OnlyANegativeTtlIsRefused) {
  FakeClock clock;
  engine::CounterTokenSource tokens;
  engine::Core core(&clock, &tokens, engine::CoreOptions::InProcess());
  EXPECT_THAT(core.CreateSession("a", absl::Milliseconds(1)), IsOk());
  EXPECT_THAT(core.CreateSession("a", absl::Hours(48)), IsOk());
  EXPECT_THAT(core.CreateSession("a", absl::Seconds(-1)),
              StatusIs(kInvalid, ::testing::HasSubstr("ttl -1s is negative")));
}

}  // namespace
}  // namespace semaphored::internal
