// The Ticker drives deadlines in real time; these tests use the real clock with
// short, bounded waits (it is the one unit whose job is real time).

#include "engine/ticker.h"

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "tests/common/status_matchers.h"

namespace semaphored::internal {

using engine::Core;
using engine::CoreOptions;
using engine::CounterTokenSource;
using engine::SetArgs;
using engine::SetOutcome;
using engine::Ticker;

namespace {

TEST(TickerTest, AnswersATimedWaitAtItsDeadline) {
  CounterTokenSource tokens;
  Core core(RealClock::Get(), &tokens);
  Ticker ticker(&core);
  auto a = core.CreateSession("a", absl::ZeroDuration());
  auto b = core.CreateSession("b", absl::ZeroDuration());
  ASSERT_TRUE(a.ok() && b.ok());
  SetArgs args;
  args.name = "x";
  core.Set(a->id, args, [](absl::StatusOr<SetOutcome>) {});
  absl::Notification done;
  bool acquired = true;
  args.deadline = absl::Now() + absl::Milliseconds(50);
  const absl::Time start = absl::Now();
  core.Set(b->id, args, [&](absl::StatusOr<SetOutcome> out) {
    acquired = out.ok() && out->acquired;
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_FALSE(acquired);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(49));
}

TEST(TickerTest, WakesEarlyForAnEarlierDeadline) {
  CounterTokenSource tokens;
  CoreOptions options;
  options.min_ttl = absl::Milliseconds(10);
  Core core(RealClock::Get(), &tokens, options);
  Ticker ticker(&core);
  // A far deadline first, so the ticker sleeps long; then a near one.
  ASSERT_TRUE(core.CreateSession("far", absl::Minutes(30)).ok());
  auto near = core.CreateSession("near", absl::Milliseconds(30));
  ASSERT_TRUE(near.ok());
  const absl::Time limit = absl::Now() + absl::Seconds(10);
  while (core.Counts().sessions == 2 && absl::Now() < limit) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(core.Counts().sessions, 1) << "the near session should have expired";
}

}  // namespace
}  // namespace semaphored::internal
