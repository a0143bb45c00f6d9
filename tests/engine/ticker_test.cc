// The Ticker drives deadlines in real time; these tests use the real clock with
// short, bounded waits (it is the one unit whose job is real time).

#include "engine/ticker.h"
#include "engine/counter_token_source.h"

#include <atomic>

#include "absl/strings/str_cat.h"
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

using ::semaphored::testing::IsOk;

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
  args.wait = {absl::InfiniteDuration(), absl::Now() + absl::Milliseconds(50)};
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

TEST(TickerTest, ReleasesALargeEndedSessionWithoutWaitingForADeadline) {
  CounterTokenSource tokens;
  CoreOptions options;
  options.max_held_per_session = 1'000'000;
  options.max_ttl = absl::Hours(10);
  Core core(RealClock::Get(), &tokens, options);
  Ticker ticker(&core);
  // Long TTLs: the ticker sleeps for hours unless the core's hook wakes it.
  auto big = core.CreateSession("big", absl::Hours(5));
  auto other = core.CreateSession("other", absl::Hours(5));
  ASSERT_TRUE(big.ok() && other.ok());
  const int names = 2 * static_cast<int>(Core::kTickWork);
  SetArgs args;
  for (int i = 0; i < names; ++i) {
    args.name = absl::StrCat("n", i);
    core.Set(big->id, args, [](absl::StatusOr<SetOutcome>) {});
  }
  // Every name is waited for; the waits are answered (on the ticker's thread) only
  // when the session's holds are released.
  absl::Notification all_granted;
  std::atomic<int> granted{0};
  args.wait = {absl::InfiniteDuration(), absl::InfiniteFuture()};
  for (int i = 0; i < names; ++i) {
    args.name = absl::StrCat("n", i);
    ASSERT_NE(core.Set(other->id, args,
                       [&](absl::StatusOr<SetOutcome> out) {
                         if (out.ok() && out->acquired && ++granted == names) {
                           all_granted.Notify();
                         }
                       }),
              0u);
  }
  ASSERT_THAT(core.CloseSession(big->id).status(), IsOk());
  ASSERT_TRUE(all_granted.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(core.Counts().ending_sessions, 0);
  EXPECT_EQ(core.Counts().held_semaphores, names);
}

}  // namespace
}  // namespace semaphored::internal
