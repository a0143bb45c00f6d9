// The core's work is linear in the holders and waiters an operation changes: each test
// runs one operation at two sizes and compares Core::WorkDone() (records visited under
// the lock), never a time. A scan per record (what handing N names on to one session
// did before the by-semaphore index) makes the count grow 16x for 4x the size.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "engine/core.h"
#include "engine/counter_token_source.h"
#include "tests/common/status_matchers.h"
#include "tests/engine/core_test_util.h"

namespace semaphored::internal {

using engine::Core;
using engine::CoreOptions;
using engine::CounterTokenSource;
using engine::NewSession;
using engine::SetArgs;
using engine::WaiterId;

namespace {

using ::semaphored::testing::IsOk;

constexpr int kSmall = 1000;
constexpr int kLarge = 4000;

CoreOptions Roomy() {
  CoreOptions o;
  o.max_held_per_session = 1'000'000;
  o.max_waiters_per_session = 1'000'000;
  o.max_waiters_per_semaphore = 1'000'000;
  o.max_sessions_per_peer = 0;
  o.session_rate_per_peer = 0;
  return o;
}

// A core of its own per size, with helpers; `Measure` returns the work one operation
// did.
struct Fixture {
  FakeClock clock;
  CounterTokenSource tokens;
  Core core{&clock, &tokens, Roomy()};
  std::vector<std::unique_ptr<SetAnswer>> answers;

  SessionId Open(absl::Duration ttl = absl::Seconds(10)) {
    absl::StatusOr<NewSession> s = core.CreateSession("c", ttl);
    EXPECT_THAT(s.status(), IsOk());
    return s.ok() ? s->id : 0;
  }
  void Hold(SessionId s, const std::string& name, int32_t limit = 1) {
    SetArgs args;
    args.name = name;
    args.limit = limit;
    SetAnswer answer;
    core.Set(s, std::move(args), answer.Callback());
    ASSERT_TRUE(answer.done());
    ASSERT_THAT(answer.value->status(), IsOk());
    ASSERT_TRUE((*answer.value)->acquired) << name;
  }
  WaiterId Wait(SessionId s, const std::string& name,
                absl::Time deadline = absl::InfiniteFuture()) {
    SetArgs args;
    args.name = name;
    args.wait = {absl::InfiniteDuration(), deadline};
    answers.push_back(std::make_unique<SetAnswer>());
    WaiterId id = core.Set(s, std::move(args), answers.back()->Callback());
    EXPECT_NE(id, 0u) << "expected " << name << " to be queued";
    return id;
  }
  uint64_t Measure(const std::function<void()>& op) {
    const uint64_t before = core.WorkDone();
    op();
    const uint64_t work = core.WorkDone() - before;
    EXPECT_THAT(core.CheckInvariants(), IsOk());
    return work;
  }
  int Acquired() const {
    int n = 0;
    for (const auto& a : answers) n += a->done() && a->value->ok() && (*a->value)->acquired;
    return n;
  }
};

// Runs `scenario` (which returns the work of the operation under test) at both sizes
// and checks that the work grows like the size: at most ~kLarge/kSmall times (with
// slack for hash-table growth), and at most `per_record` visits per record.
void ExpectLinear(const std::function<uint64_t(int)>& scenario, uint64_t per_record) {
  const uint64_t small = scenario(kSmall);
  const uint64_t large = scenario(kLarge);
  SCOPED_TRACE(absl::StrCat("work at ", kSmall, ": ", small, "; at ", kLarge, ": ", large));
  ::testing::Test::RecordProperty("work_small", static_cast<int>(small));
  ::testing::Test::RecordProperty("work_large", static_cast<int>(large));
  ASSERT_GT(small, 0u);
  EXPECT_LE(large, small * (kLarge / kSmall) * 5 / 4) << "grows faster than the size";
  EXPECT_LE(large, per_record * kLarge);
}

TEST(CoreWorkTest, HandingManyNamesOnToOneWaitingSessionIsLinear) {
  ExpectLinear(
      [](int n) {
        Fixture f;
        SessionId a = f.Open();
        SessionId b = f.Open();
        for (int i = 0; i < n; ++i) f.Hold(a, absl::StrCat("n", i));
        for (int i = 0; i < n; ++i) f.Wait(b, absl::StrCat("n", i));
        const uint64_t work = f.Measure([&] { ASSERT_THAT(f.core.CloseSession(a), IsOk()); });
        EXPECT_EQ(f.Acquired(), n);
        EXPECT_EQ(f.core.Counts().held_semaphores, n);
        return work;
      },
      /*per_record=*/8);
}

TEST(CoreWorkTest, ManyRequestsOfOneSessionForOneNameAreAnsweredLinearly) {
  ExpectLinear(
      [](int n) {
        Fixture f;
        SessionId a = f.Open();
        SessionId b = f.Open();
        f.Hold(a, "x");
        for (int i = 0; i < n; ++i) f.Wait(b, "x");
        const uint64_t work = f.Measure([&] { ASSERT_THAT(f.core.Clear(a, "x"), IsOk()); });
        int answered = 0;
        for (const auto& answer : f.answers) answered += answer->done();
        EXPECT_EQ(answered, n);
        EXPECT_EQ(f.Acquired(), n);  // one grant, the others "already held"
        return work;
      },
      /*per_record=*/4);
}

TEST(CoreWorkTest, EndingEveryHolderOfAWideSemaphoreIsLinear) {
  ExpectLinear(
      [](int n) {
        Fixture f;
        std::vector<SessionId> holders;
        for (int i = 0; i < n; ++i) {
          holders.push_back(f.Open());
          f.Hold(holders.back(), "wide", kLarge);
        }
        // Oldest first, newest first, alternating: each release moves records.
        return f.Measure([&] {
          for (int i = 0; i < n / 2; ++i) {
            ASSERT_THAT(f.core.CloseSession(holders[i]), IsOk());
            ASSERT_THAT(f.core.CloseSession(holders[n - 1 - i]), IsOk());
          }
        });
      },
      /*per_record=*/6);
}

TEST(CoreWorkTest, SettingAgainOneOfManyHoldersCostsTheSameAtAnySize) {
  for (int n : {kSmall, kLarge}) {
    SCOPED_TRACE(n);
    Fixture f;
    std::vector<SessionId> holders;
    for (int i = 0; i < n; ++i) {
      holders.push_back(f.Open());
      f.Hold(holders.back(), "wide", kLarge);
    }
    EXPECT_EQ(f.Measure([&] { f.Hold(holders[0], "wide", kLarge); }), 0u);
    EXPECT_LE(f.Measure([&] { ASSERT_THAT(f.core.Clear(holders[n / 2], "wide"), IsOk()); }),
              2u);
  }
}

TEST(CoreWorkTest, ForceClearOfManyHoldersIsLinear) {
  ExpectLinear(
      [](int n) {
        Fixture f;
        for (int i = 0; i < n; ++i) f.Hold(f.Open(), "wide", kLarge);
        return f.Measure([&] { ASSERT_THAT(f.core.ForceClear("wide", "test"), IsOk()); });
      },
      /*per_record=*/4);
}

TEST(CoreWorkTest, CancellingEveryWaitOfASessionIsLinear) {
  ExpectLinear(
      [](int n) {
        Fixture f;
        SessionId a = f.Open();
        SessionId b = f.Open();
        std::vector<WaiterId> ids;
        for (int i = 0; i < n; ++i) f.Hold(a, absl::StrCat("n", i));
        for (int i = 0; i < n; ++i) ids.push_back(f.Wait(b, absl::StrCat("n", i % 7)));
        for (int i = 0; i < n; ++i) ids.push_back(f.Wait(b, absl::StrCat("n", i)));
        return f.Measure([&] {
          for (WaiterId id : ids) f.core.Cancel(id);
        });
      },
      /*per_record=*/4);
}

TEST(CoreWorkTest, ExpiryIsLinearAndTickedInSlices) {
  ExpectLinear(
      [](int n) {
        Fixture f;
        std::vector<SessionId> sessions;
        for (int i = 0; i < n; ++i) sessions.push_back(f.Open(absl::Seconds(5)));
        SessionId waiter = f.Open(absl::Hours(1));
        for (int i = 0; i < n; ++i) {
          f.Hold(sessions[i], absl::StrCat("n", i));
          f.Wait(waiter, absl::StrCat("n", i), f.clock.Now() + absl::Seconds(1));
          f.Wait(waiter, absl::StrCat("n", i), absl::InfiniteFuture());
        }
        f.clock.Advance(absl::Seconds(10));
        int ticks = 0;
        const uint64_t work = f.Measure([&] {
          while (f.core.NextDeadline() <= f.clock.Now() && ticks < 1000) {
            const uint64_t before = f.core.WorkDone();
            f.core.Tick();
            ++ticks;
            // One slice: the budget plus the rest of the one record it ended on.
            EXPECT_LE(f.core.WorkDone() - before, Core::kTickWork + 16);
          }
        });
        EXPECT_GT(ticks, 1);
        EXPECT_EQ(f.core.Counts().sessions, 1);
        EXPECT_EQ(f.Acquired(), n);  // each indefinite wait got its name
        return work;
      },
      /*per_record=*/12);
}

TEST(CoreWorkTest, DrainIsLinear) {
  ExpectLinear(
      [](int n) {
        Fixture f;
        SessionId a = f.Open();
        for (int i = 0; i < n; ++i) f.Hold(a, absl::StrCat("n", i));
        for (int i = 0; i < n; ++i) f.Wait(f.Open(), absl::StrCat("n", i));
        return f.Measure([&] { f.core.Drain(); });
      },
      /*per_record=*/6);
}

}  // namespace
}  // namespace semaphored::internal
