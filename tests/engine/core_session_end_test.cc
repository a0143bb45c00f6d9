// Ending a session with more than Core::kTickWork records: the session ends at once,
// its records are released by Tick() in slices of about kTickWork (WorkDone() counts,
// never a time), and every path that meets a half-released session behaves.

#include <cstdint>
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
using engine::CoreCounts;
using engine::CoreListener;
using engine::CoreOptions;
using engine::CounterTokenSource;
using engine::HolderSnapshot;
using engine::NewSession;
using engine::SemaphoreSnapshot;
using engine::SessionEnd;
using engine::SetArgs;

namespace {

using ::semaphored::testing::IsOk;
using ::semaphored::testing::StatusIs;
using ::testing::HasSubstr;

constexpr int kNames = 3 * static_cast<int>(Core::kTickWork);
// One slice: the budget plus the rest of the one record it ended on.
constexpr uint64_t kSlice = Core::kTickWork + 16;

CoreOptions Roomy() {
  CoreOptions o;
  o.max_held_per_session = 1'000'000;
  o.max_waiters_per_session = 1'000'000;
  o.max_sessions_per_peer = 0;
  o.session_rate_per_peer = 0;
  o.max_ttl = absl::Hours(10);
  return o;
}

std::string Name(int i) { return absl::StrCat("n", i); }

class RecordingListener : public CoreListener {
 public:
  void OnSessionEnded(const SessionEnd& end) override { ended.push_back(end); }
  std::vector<SessionEnd> ended;
};

// Session `big` holds kNames names; `first` and then `second` wait on each of them.
class CoreSlicedEndTest : public ::testing::Test {
 protected:
  CoreSlicedEndTest() {
    core_.SetListener(&listener_);
    core_.SetDeadlineHook([this] { ++hook_calls_; });
    absl::StatusOr<NewSession> s = core_.CreateSession("big", absl::Hours(1));
    EXPECT_THAT(s.status(), IsOk());
    big_ = s->id;
    big_secret_ = s->secret;
    first_ = Open("first");
    second_ = Open("second");
    EXPECT_THAT(core_.SetObserver(big_, observer_), IsOk());
    for (int i = 0; i < kNames; ++i) {
      SetArgs args;
      args.name = Name(i);
      SetAnswer answer;
      core_.Set(big_, std::move(args), answer.Callback());
      EXPECT_TRUE(answer.done() && answer.value->ok() && (*answer.value)->acquired);
    }
    for (int i = 0; i < kNames; ++i) Wait(first_, Name(i), first_answers_);
    for (int i = 0; i < kNames; ++i) Wait(second_, Name(i), second_answers_);
  }

  void TearDown() override { EXPECT_THAT(core_.CheckInvariants(), IsOk()); }

  SessionId Open(std::string client) {
    absl::StatusOr<NewSession> s = core_.CreateSession(std::move(client), absl::Hours(1));
    EXPECT_THAT(s.status(), IsOk());
    return s.ok() ? s->id : 0;
  }
  void Wait(SessionId s, const std::string& name,
            std::vector<std::unique_ptr<SetAnswer>>& answers) {
    SetArgs args;
    args.name = name;
    args.wait = {absl::InfiniteDuration(), absl::InfiniteFuture()};
    answers.push_back(std::make_unique<SetAnswer>());
    EXPECT_NE(core_.Set(s, std::move(args), answers.back()->Callback()), 0u);
  }
  static int Acquired(const std::vector<std::unique_ptr<SetAnswer>>& answers) {
    int n = 0;
    for (const auto& a : answers) n += a->done() && a->value->ok() && (*a->value)->acquired;
    return n;
  }
  static int Answered(const std::vector<std::unique_ptr<SetAnswer>>& answers) {
    int n = 0;
    for (const auto& a : answers) n += a->done();
    return n;
  }
  // Whether `name` is still held by the big session.
  bool HeldByBig(const std::string& name) {
    SemaphoreSnapshot snap = core_.Test(name);
    return !snap.holders.empty() && snap.holders[0].session_id == big_;
  }
  // One Tick(), checked: at most one slice of work, invariants intact.
  void TickOnce() {
    const uint64_t before = core_.WorkDone();
    core_.Tick();
    EXPECT_LE(core_.WorkDone() - before, kSlice);
    ASSERT_THAT(core_.CheckInvariants(), IsOk());
  }
  // Ticks while NextDeadline() says now; returns the number of ticks.
  int TickUntilIdle() {
    int ticks = 0;
    while (core_.NextDeadline() <= clock_.Now() && ticks < 100) {
      TickOnce();
      ++ticks;
    }
    return ticks;
  }

  FakeClock clock_;
  CounterTokenSource tokens_;
  Core core_{&clock_, &tokens_, Roomy()};
  RecordingListener listener_;
  std::shared_ptr<RecordingObserver> observer_ = std::make_shared<RecordingObserver>();
  int hook_calls_ = 0;
  SessionId big_ = 0;
  std::string big_secret_;
  SessionId first_ = 0;
  SessionId second_ = 0;
  std::vector<std::unique_ptr<SetAnswer>> first_answers_;
  std::vector<std::unique_ptr<SetAnswer>> second_answers_;
};

TEST_F(CoreSlicedEndTest, CloseEndsAtOnceAndTickReleasesInSlicesInFifoOrder) {
  const int hooks_before = hook_calls_;
  const uint64_t before = core_.WorkDone();
  absl::StatusOr<int32_t> released = core_.CloseSession(big_);
  ASSERT_THAT(released.status(), IsOk());
  EXPECT_EQ(*released, kNames);
  EXPECT_LE(core_.WorkDone() - before, kSlice);
  ASSERT_THAT(core_.CheckInvariants(), IsOk());

  // Ended at once: secret refused, observer and listener told with the count held,
  // no longer a live session; the Ticker is woken and has work now.
  EXPECT_THAT(core_.Authenticate(big_secret_).status(),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("closed")));
  EXPECT_THAT(core_.Refresh(big_).status(), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(core_.GetSession(big_).status(), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_EQ(observer_->ended.size(), 1u);
  ASSERT_EQ(listener_.ended.size(), 1u);
  EXPECT_EQ(listener_.ended[0].released, kNames);
  EXPECT_GT(hook_calls_, hooks_before);
  EXPECT_LE(core_.NextDeadline(), clock_.Now());
  CoreCounts counts = core_.Counts();
  EXPECT_EQ(counts.sessions, 2);
  EXPECT_EQ(counts.ending_sessions, 1);
  EXPECT_EQ(counts.held_semaphores, kNames);
  EXPECT_EQ(Answered(first_answers_), 0);
  EXPECT_TRUE(HeldByBig(Name(0)));  // listed until released

  int ticks = 0;
  int granted = 0;
  while (core_.NextDeadline() <= clock_.Now() && ticks < 100) {
    TickOnce();
    ++ticks;
    const int now_granted = Acquired(first_answers_);
    EXPECT_GT(now_granted, granted) << "a slice released nothing";
    granted = now_granted;
    // Each released name went to its first waiter at once: the pair count is constant.
    EXPECT_EQ(core_.Counts().held_semaphores, kNames);
  }
  EXPECT_GE(ticks, 3);
  EXPECT_EQ(Acquired(first_answers_), kNames);
  EXPECT_EQ(Answered(second_answers_), 0) << "FIFO: the second waiter still waits";
  counts = core_.Counts();
  EXPECT_EQ(counts.ending_sessions, 0);
  EXPECT_EQ(counts.waiters, kNames);
  EXPECT_GT(core_.NextDeadline(), clock_.Now());
  for (int i = 0; i < kNames; i += 997) {
    SCOPED_TRACE(Name(i));
    SemaphoreSnapshot snap = core_.Test(Name(i));
    ASSERT_EQ(snap.holders.size(), 1u);
    EXPECT_EQ(snap.holders[0].session_id, first_);
    EXPECT_EQ(snap.waiter_count, 1);
  }
  EXPECT_EQ(observer_->ended.size(), 1u);
  EXPECT_TRUE(observer_->revoked.empty());
}

TEST_F(CoreSlicedEndTest, ForceClearAndClearMeetAHalfReleasedSession) {
  ASSERT_THAT(core_.CloseSession(big_).status(), IsOk());
  TickOnce();
  std::vector<std::string> still_held;
  for (int i = 0; i < kNames; ++i) {
    if (HeldByBig(Name(i))) still_held.push_back(Name(i));
  }
  ASSERT_GT(still_held.size(), 0u);
  ASSERT_LT(still_held.size(), static_cast<size_t>(kNames));

  // Another session may not clear it; the message says it is being released.
  EXPECT_THAT(core_.Clear(second_, still_held[0]),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("has ended")));

  // Force-clear every other name it still holds, tick, then all that is left (which
  // includes the entry the release would have taken next).
  for (size_t i = 0; i < still_held.size(); i += 2) {
    absl::StatusOr<std::vector<HolderSnapshot>> revoked = core_.ForceClear(still_held[i], "test");
    ASSERT_THAT(revoked.status(), IsOk());
    ASSERT_EQ(revoked->size(), 1u);
    EXPECT_EQ((*revoked)[0].session_id, big_);
    if (i % 512 == 0) {
      ASSERT_THAT(core_.CheckInvariants(), IsOk());
    }
  }
  TickOnce();
  for (const std::string& name : still_held) {
    if (!HeldByBig(name)) continue;
    ASSERT_THAT(core_.ForceClear(name, "test").status(), IsOk());
  }
  ASSERT_THAT(core_.CheckInvariants(), IsOk());
  TickUntilIdle();
  EXPECT_EQ(core_.Counts().ending_sessions, 0);
  EXPECT_EQ(Acquired(first_answers_), kNames);
  EXPECT_EQ(Answered(second_answers_), 0);
  EXPECT_TRUE(observer_->revoked.empty()) << "its observer was told it ended, not more";
}

TEST_F(CoreSlicedEndTest, DrainFinishesAHalfReleasedSessionAtOnce) {
  ASSERT_THAT(core_.CloseSession(big_).status(), IsOk());
  TickOnce();
  ASSERT_GT(Acquired(first_answers_), 0);
  ASSERT_LT(Acquired(first_answers_), kNames);
  Core::DrainResult drained = core_.Drain();
  EXPECT_EQ(drained.ended_sessions, 2);
  const CoreCounts counts = core_.Counts();
  EXPECT_EQ(counts.sessions, 0);
  EXPECT_EQ(counts.ending_sessions, 0);
  EXPECT_EQ(counts.held_semaphores, 0);
  EXPECT_EQ(counts.waiters, 0);
  EXPECT_EQ(counts.semaphores, 0);
  EXPECT_EQ(core_.NextDeadline(), absl::InfiniteFuture());
  EXPECT_EQ(Answered(first_answers_), kNames);
  EXPECT_EQ(Answered(second_answers_), kNames);
  for (const auto& a : second_answers_) {
    EXPECT_THAT(a->value->status(), StatusIs(absl::StatusCode::kUnavailable));
  }
}

TEST_F(CoreSlicedEndTest, ExpiryAndAdminEndAreSlicedToo) {
  const uint64_t before = core_.WorkDone();
  ASSERT_THAT(core_.EndSession(big_, "test").status(), IsOk());
  EXPECT_LE(core_.WorkDone() - before, kSlice);
  EXPECT_THAT(core_.Authenticate(big_secret_).status(),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("administrator")));
  EXPECT_GE(TickUntilIdle(), 3);
  EXPECT_EQ(Acquired(first_answers_), kNames);

  // `first` now holds every name: its expiry ends it in a slice and releases in more.
  // `second` has kNames waiters: it is sliced too, and none of them is granted.
  clock_.Advance(absl::Hours(2));
  EXPECT_GE(TickUntilIdle(), 3);
  const CoreCounts counts = core_.Counts();
  EXPECT_EQ(counts.sessions, 0);
  EXPECT_EQ(counts.ending_sessions, 0);
  EXPECT_EQ(counts.held_semaphores, 0);
  EXPECT_EQ(counts.waiters, 0);
  EXPECT_EQ(counts.semaphores, 0);
  EXPECT_EQ(Acquired(second_answers_), 0);
  EXPECT_EQ(Answered(second_answers_), kNames);
}

// The large session's own waiters: none is granted after it ended, whichever path
// meets them first (a hand-on, a deadline, a wait for clear), and each is answered
// with the session's end.
TEST(CoreSlicedEndWaitersTest, WaitersOfAnEndedSessionAreNeverGranted) {
  FakeClock clock;
  CounterTokenSource tokens;
  Core core(&clock, &tokens, Roomy());
  auto big = core.CreateSession("big", absl::Hours(1));
  auto other = core.CreateSession("other", absl::Hours(1));
  auto late = core.CreateSession("late", absl::Hours(1));
  ASSERT_TRUE(big.ok() && other.ok() && late.ok());
  auto set = [&](SessionId s, const std::string& name, absl::Time deadline, SetAnswer& a) {
    SetArgs args;
    args.name = name;
    args.wait = {absl::InfiniteDuration(), deadline};
    return core.Set(s, std::move(args), a.Callback());
  };
  for (int i = 0; i < kNames; ++i) {
    SetAnswer a;
    set(big->id, Name(i), absl::InfinitePast(), a);
    ASSERT_TRUE(a.done() && (*a.value)->acquired);
  }
  SetAnswer held_w, held_d, held_c;
  set(other->id, "w", absl::InfinitePast(), held_w);
  set(other->id, "d", absl::InfinitePast(), held_d);
  set(other->id, "c", absl::InfinitePast(), held_c);
  // The big session's requests, queued after everything it holds (released last).
  SetAnswer big_w, big_d, late_w;
  ClearAnswer big_c;
  ASSERT_NE(set(big->id, "w", absl::InfiniteFuture(), big_w), 0u);
  ASSERT_NE(set(big->id, "d", clock.Now() + absl::Seconds(1), big_d), 0u);
  ASSERT_NE(core.WaitClear(big->id, {"c", {absl::InfiniteDuration()}}, big_c.Callback()), 0u);
  ASSERT_NE(set(late->id, "w", absl::InfiniteFuture(), late_w), 0u);

  ASSERT_THAT(core.CloseSession(big->id).status(), IsOk());
  ASSERT_EQ(core.Counts().ending_sessions, 1);
  EXPECT_FALSE(big_w.done());

  // Hand-on: "w" goes past the ended request to the next one.
  ASSERT_THAT(core.Clear(other->id, "w"), IsOk());
  ASSERT_TRUE(big_w.done());
  EXPECT_THAT(big_w.value->status(),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("closed")));
  ASSERT_TRUE(late_w.done());
  EXPECT_TRUE((*late_w.value)->acquired);
  // Wait for clear: answered with the end, not "clear".
  ASSERT_THAT(core.Clear(other->id, "c"), IsOk());
  ASSERT_TRUE(big_c.done());
  EXPECT_THAT(big_c.value->status(), StatusIs(absl::StatusCode::kUnauthenticated));
  // Deadline: answered with the end, not a timeout.
  clock.Advance(absl::Seconds(2));
  core.Tick();
  ASSERT_TRUE(big_d.done());
  EXPECT_THAT(big_d.value->status(), StatusIs(absl::StatusCode::kUnauthenticated));
  ASSERT_THAT(core.CheckInvariants(), IsOk());

  for (int ticks = 0; core.NextDeadline() <= clock.Now() && ticks < 100; ++ticks) {
    core.Tick();
    ASSERT_THAT(core.CheckInvariants(), IsOk());
  }
  const CoreCounts counts = core.Counts();
  EXPECT_EQ(counts.ending_sessions, 0);
  EXPECT_EQ(counts.held_semaphores, 2);  // "d" by other, "w" by late
  EXPECT_EQ(counts.waiters, 0);
}

// At the threshold and below, a session ends exactly as before: all at once.
TEST(CoreSlicedEndThresholdTest, SessionsUpToTheSliceEndAtOnce) {
  struct Case {
    int holds;
    int waits;
    bool sliced;
  };
  const int k = static_cast<int>(Core::kTickWork);
  for (const Case& c : {Case{k, 0, false}, Case{k - 1, 1, false}, Case{k + 1, 0, true},
                        Case{k, 1, true}}) {
    SCOPED_TRACE(absl::StrCat(c.holds, " holds, ", c.waits, " waits"));
    FakeClock clock;
    CounterTokenSource tokens;
    Core core(&clock, &tokens, Roomy());
    auto s = core.CreateSession("s", absl::Hours(1));
    auto other = core.CreateSession("other", absl::Hours(1));
    ASSERT_TRUE(s.ok() && other.ok());
    std::vector<std::unique_ptr<SetAnswer>> answers;
    auto set = [&](SessionId id, const std::string& name, absl::Time deadline) {
      SetArgs args;
      args.name = name;
      args.wait = {absl::InfiniteDuration(), deadline};
      answers.push_back(std::make_unique<SetAnswer>());
      core.Set(id, std::move(args), answers.back()->Callback());
    };
    set(other->id, "x", absl::InfinitePast());
    for (int i = 0; i < c.holds; ++i) set(s->id, Name(i), absl::InfinitePast());
    for (int i = 0; i < c.waits; ++i) set(s->id, "x", absl::InfiniteFuture());
    ASSERT_THAT(core.CloseSession(s->id).status(), IsOk());
    const CoreCounts counts = core.Counts();
    EXPECT_EQ(counts.ending_sessions, c.sliced ? 1 : 0);
    EXPECT_EQ(counts.held_semaphores, c.sliced ? c.holds + 1 : 1);
    EXPECT_EQ(core.NextDeadline() <= clock.Now(), c.sliced);
    EXPECT_THAT(core.CheckInvariants(), IsOk());
  }
}

}  // namespace
}  // namespace semaphored::internal
