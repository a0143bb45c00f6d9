// AdminThrottle with a fake clock: free failures, the doubling block, forgetting, the
// log rate limit with its suppressed count, and the bound on remembered hosts.

#include "server/service/admin_throttle.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/clock.h"
#include "tests/common/status_matchers.h"

namespace semaphored::server {

using ::semaphored::internal::FakeClock;
namespace {

using ::semaphored::testing::IsOk;
using ::semaphored::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr char kHost[] = "10.0.0.7";

TEST(AdminThrottleTest, FiveFreeFailuresThenABlockThatDoubles) {
  FakeClock clock;
  AdminThrottle throttle(&clock);
  for (int i = 0; i < 4; ++i) {
    ASSERT_THAT(throttle.Admit(kHost), IsOk());
    throttle.RecordFailure(kHost);
  }
  EXPECT_THAT(throttle.Admit(kHost), IsOk());
  throttle.RecordFailure(kHost);  // the 5th: blocks for 1 s
  EXPECT_THAT(throttle.Admit(kHost),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr("too many failed admin attempts from 10.0.0.7"),
                             HasSubstr("5 refused in a row"), HasSubstr("retry in 1 s"))));
  // Other hosts are not concerned.
  EXPECT_THAT(throttle.Admit("10.0.0.8"), IsOk());

  // Each further refusal doubles the block: 2 s, 4 s, 8 s ...
  const std::vector<absl::Duration> blocks = {absl::Seconds(1), absl::Seconds(2),
                                              absl::Seconds(4), absl::Seconds(8)};
  for (size_t i = 0; i + 1 < blocks.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("after block ", i));
    clock.Advance(blocks[i] - absl::Milliseconds(1));
    EXPECT_THAT(throttle.Admit(kHost), StatusIs(absl::StatusCode::kResourceExhausted));
    clock.Advance(absl::Milliseconds(1));
    ASSERT_THAT(throttle.Admit(kHost), IsOk());
    throttle.RecordFailure(kHost);
    EXPECT_THAT(throttle.Admit(kHost),
                StatusIs(absl::StatusCode::kResourceExhausted,
                         HasSubstr(absl::StrCat("retry in ",
                                                absl::ToInt64Seconds(blocks[i + 1]), " s"))));
  }
}

TEST(AdminThrottleTest, TheBlockIsCapped) {
  FakeClock clock;
  AdminThrottle throttle(&clock);
  for (int i = 0; i < 40; ++i) {
    clock.Advance(absl::Minutes(2));  // past any block, within forget_after
    throttle.RecordFailure(kHost);
  }
  EXPECT_THAT(throttle.Admit(kHost),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("retry in 60 s")));
  clock.Advance(absl::Seconds(60));
  EXPECT_THAT(throttle.Admit(kHost), IsOk());
}

TEST(AdminThrottleTest, SuccessAndQuietTimeForgetTheFailures) {
  FakeClock clock;
  AdminThrottle throttle(&clock);
  for (int i = 0; i < 4; ++i) throttle.RecordFailure(kHost);
  throttle.RecordSuccess(kHost);
  throttle.RecordFailure(kHost);  // one in a row again: no block
  EXPECT_THAT(throttle.Admit(kHost), IsOk());

  for (int i = 0; i < 3; ++i) throttle.RecordFailure(kHost);  // four in a row
  clock.Advance(absl::Minutes(10));                           // forget_after
  throttle.RecordFailure(kHost);                              // one in a row
  EXPECT_THAT(throttle.Admit(kHost), IsOk());
}

TEST(AdminThrottleTest, LogsAtMostOneLinePerSecondPerHostWithTheSuppressedCount) {
  FakeClock clock;
  AdminThrottle throttle(&clock);
  int64_t suppressed = -1;
  ASSERT_TRUE(throttle.ShouldLog(kHost, &suppressed));
  EXPECT_EQ(suppressed, 0);
  int logged = 0;
  for (int i = 0; i < 100; ++i) {
    clock.Advance(absl::Milliseconds(5));  // 100 refusals in 0.5 s
    if (throttle.ShouldLog(kHost, &suppressed)) ++logged;
  }
  EXPECT_EQ(logged, 0);
  // Another host has its own allowance.
  EXPECT_TRUE(throttle.ShouldLog("10.0.0.8", &suppressed));
  clock.Advance(absl::Milliseconds(500));
  ASSERT_TRUE(throttle.ShouldLog(kHost, &suppressed));
  EXPECT_EQ(suppressed, 100);
  clock.Advance(absl::Seconds(1));
  ASSERT_TRUE(throttle.ShouldLog(kHost, &suppressed));
  EXPECT_EQ(suppressed, 0);
}

TEST(AdminThrottleTest, RemembersABoundedNumberOfHosts) {
  FakeClock clock;
  AdminThrottle::Options options;
  options.max_hosts = 10;
  AdminThrottle throttle(&clock, options);
  // 10 hosts blocked, then 90 more: the newcomers share the overflow record, which is
  // throttled like one host.
  for (int h = 0; h < 100; ++h) {
    for (int i = 0; i < 5; ++i) throttle.RecordFailure(absl::StrCat("10.1.0.", h));
  }
  EXPECT_LE(throttle.HostCount(), 11u);
  EXPECT_THAT(throttle.Admit("10.1.0.3"), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(throttle.Admit("10.2.0.1"), StatusIs(absl::StatusCode::kResourceExhausted));
  // Once they are idle, a sweep makes room for new hosts again.
  clock.Advance(absl::Minutes(11));
  throttle.RecordFailure("10.2.0.1");
  EXPECT_LE(throttle.HostCount(), 2u);
  EXPECT_THAT(throttle.Admit("10.2.0.1"), IsOk());
}

}  // namespace
}  // namespace semaphored::server
