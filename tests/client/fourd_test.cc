// The 4D-style facade: ticks, and what Semaphore / ClearSemaphore / TestSemaphore
// return.

#include <memory>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "local_test_util.h"
#include "semaphored/fourd.h"
#include "tests/common/status_matchers.h"

namespace semaphored {
namespace {

using ::semaphored::internal::testing::FakeLocalClient;
using ::semaphored::testing::IsOk;
using ::semaphored::testing::StatusIs;

TEST(ClientFourDTest, SixtyTicksAreOneSecond) {
  struct Case {
    int ticks;
    absl::Duration expected;
  };
  const Case cases[] = {
      {0, absl::ZeroDuration()},
      {-5, absl::ZeroDuration()},
      {1, absl::Seconds(1) / 60},
      {30, absl::Milliseconds(500)},
      {60, absl::Seconds(1)},
      {300, absl::Seconds(5)},
      {60 * 60 * 60, absl::Hours(1)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.ticks);
    EXPECT_EQ(TicksToDuration(c.ticks), c.expected);
  }
}

TEST(ClientFourDTest, SemaphoreReturnsTrueOnlyWhenAnotherSessionHasItSet) {
  FakeLocalClient local;
  auto a = local.Open("a");
  auto b = local.Open("b");
  absl::Status error;
  EXPECT_FALSE(Semaphore(*a, "$4d", 0, &error));  // not set before: now ours
  EXPECT_THAT(error, IsOk());
  EXPECT_FALSE(Semaphore(*a, "$4d"));  // our own again: "not already set"
  EXPECT_TRUE(Semaphore(*b, "$4d", 0, &error));  // set by a
  EXPECT_THAT(error, IsOk());                    // a normal answer, not an error
  EXPECT_TRUE(TestSemaphore(*a, "$4d"));
  EXPECT_TRUE(TestSemaphore(*b, "$4d"));

  ClearSemaphore(*b, "$4d", &error);  // not b's
  EXPECT_THAT(error, StatusIs(absl::StatusCode::kPermissionDenied));
  ClearSemaphore(*b, "$4d");  // ignored, as in 4D
  EXPECT_TRUE(TestSemaphore(*b, "$4d"));
  ClearSemaphore(*a, "$4d", &error);
  EXPECT_THAT(error, IsOk());
  EXPECT_FALSE(TestSemaphore(*b, "$4d", &error));
  EXPECT_THAT(error, IsOk());
  ClearSemaphore(*a, "$4d", &error);
  EXPECT_THAT(error, StatusIs(absl::StatusCode::kNotFound));
}

TEST(ClientFourDTest, SemaphoreWaitsUpToItsTicks) {
  FakeLocalClient local;
  auto a = local.Open("a");
  auto b = local.Open("b");
  ASSERT_FALSE(Semaphore(*a, "$ticks"));
  bool already_set = false;
  std::thread waiter([&] { already_set = Semaphore(*b, "$ticks", 120); });  // 2 s
  ASSERT_TRUE(local.AwaitWaiters("$ticks", 1));
  local.Advance(absl::Milliseconds(1990));
  EXPECT_EQ(local.core().Test("$ticks").waiter_count, 1);
  local.Advance(absl::Milliseconds(20));
  waiter.join();
  EXPECT_TRUE(already_set);

  std::thread getter([&] { already_set = Semaphore(*b, "$ticks", 120); });
  ASSERT_TRUE(local.AwaitWaiters("$ticks", 1));
  ClearSemaphore(*a, "$ticks");  // hands it to b at once
  getter.join();
  EXPECT_FALSE(already_set);
  EXPECT_TRUE(TestSemaphore(*a, "$ticks"));
}

TEST(ClientFourDTest, ErrorsReturnTrueAndAreReported) {
  FakeLocalClient local;
  auto a = local.Open("a");
  absl::Status error;
  EXPECT_TRUE(Semaphore(*a, "", 0, &error));
  EXPECT_THAT(error, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_FALSE(TestSemaphore(*a, "", &error));
  EXPECT_THAT(error, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_TRUE(Semaphore(*a, "global-without-server", 0, &error));
  EXPECT_THAT(error, StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace semaphored
