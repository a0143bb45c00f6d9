// The core's heap per session, per hold and per waiter (glibc mallinfo2 deltas, so
// freed memory does not hide growth), checked against the per-item figures the README
// multiplies by the default limits to bound the server's memory. Skipped under
// sanitizers, whose allocators mallinfo2 does not see.
//
// Prints the figures: ./build/tests/engine/core_memory_test

#include <malloc.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "engine/core.h"
#include "engine/counter_token_source.h"
#include "tests/common/status_matchers.h"

namespace semaphored::internal {

using engine::Core;
using engine::CoreOptions;
using engine::CounterTokenSource;
using engine::NewSession;
using engine::SetArgs;
using engine::SetOutcome;

namespace {

using ::semaphored::testing::IsOk;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

constexpr int kCount = 20'000;
// The budget per item used for the README's bound (see the reply/README text).
constexpr double kSessionBudget = 1024;
constexpr double kHoldBudget = 512;
constexpr double kWaiterBudget = 512;

int64_t Heap() { return static_cast<int64_t>(mallinfo2().uordblks); }

TEST(CoreMemoryTest, PerItemHeapStaysWithinTheDocumentedBudget) {
  if (kSanitized) GTEST_SKIP() << "mallinfo2 does not see sanitizer allocators";
  FakeClock clock;
  CounterTokenSource tokens;
  CoreOptions options;  // the defaults, per-peer limits included
  options.session_rate_per_peer = 0;
  options.max_sessions_per_peer = kCount * 2;
  Core core(&clock, &tokens, options);

  // Sessions as the server makes them: a client name, a peer, a TTL.
  const int64_t h0 = Heap();
  std::vector<SessionId> sessions;
  sessions.reserve(kCount);
  for (int i = 0; i < kCount; ++i) {
    absl::StatusOr<NewSession> s = core.CreateSession(absl::StrCat("client-", i % 100),
                                                      absl::Seconds(10), "127.0.0.1");
    ASSERT_THAT(s.status(), IsOk());
    sessions.push_back(s->id);
  }
  const int64_t h1 = Heap();
  // One hold each, on its own name (the worst case: a semaphore record per hold).
  for (int i = 0; i < kCount; ++i) {
    SetArgs args;
    args.name = absl::StrCat("app/lock/", i);
    core.Set(sessions[i], std::move(args), [](absl::StatusOr<SetOutcome> out) {
      ASSERT_TRUE(out.ok() && out->acquired);
    });
  }
  const int64_t h2 = Heap();
  // One waiter each, on the next session's name, with a deadline; the callback owns
  // a pointer's worth of state, as the server's do.
  for (int i = 0; i < kCount; ++i) {
    SetArgs args;
    args.name = absl::StrCat("app/lock/", (i + 1) % kCount);
    args.wait = {absl::InfiniteDuration(), clock.Now() + absl::Seconds(30)};
    void* state = &core;
    ASSERT_NE(core.Set(sessions[i], std::move(args), [state](absl::StatusOr<SetOutcome>) {
      (void)state;
    }), 0u);
  }
  const int64_t h3 = Heap();
  ASSERT_THAT(core.CheckInvariants(), IsOk());
  const double session = static_cast<double>(h1 - h0) / kCount;
  const double hold = static_cast<double>(h2 - h1) / kCount;
  const double waiter = static_cast<double>(h3 - h2) / kCount;
  std::printf("core heap per session %.0f B, per hold (with its semaphore) %.0f B, per "
              "waiter %.0f B\n", session, hold, waiter);
  RecordProperty("session_bytes", static_cast<int>(session));
  RecordProperty("hold_bytes", static_cast<int>(hold));
  RecordProperty("waiter_bytes", static_cast<int>(waiter));
  EXPECT_LE(session, kSessionBudget);
  EXPECT_LE(hold, kHoldBudget);
  EXPECT_LE(waiter, kWaiterBudget);
  core.Drain();
}

// The outcome each sequenced command keeps until acknowledged (see Core's "At most
// once"): at most max_unacked_outcomes_per_session per session. Measured with answers
// that carry no error message (an error's message adds its length).
TEST(CoreMemoryTest, KeptOutcomeHeapStaysWithinItsBudget) {
  if (kSanitized) GTEST_SKIP() << "mallinfo2 does not see sanitizer allocators";
  constexpr int kSessions = 1'000;
  constexpr int kPerSession = 64;
  constexpr double kOutcomeBudget = 256;
  FakeClock clock;
  CounterTokenSource tokens;
  CoreOptions options;
  options.session_rate_per_peer = 0;
  options.max_sessions_per_peer = kSessions * 2;
  Core core(&clock, &tokens, options);
  std::vector<SessionId> sessions;
  for (int i = 0; i < kSessions; ++i) {
    absl::StatusOr<NewSession> s = core.CreateSession("client", absl::Seconds(10), "127.0.0.1");
    ASSERT_THAT(s.status(), IsOk());
    sessions.push_back(s->id);
  }
  const int64_t h0 = Heap();
  for (int i = 0; i < kSessions; ++i) {
    for (uint64_t seq = 1; seq <= kPerSession; ++seq) {
      engine::WaitClearArgs args;
      args.name = "never-set";
      args.seq = seq;
      ASSERT_EQ(core.WaitClear(sessions[i], std::move(args),
                               [](absl::StatusOr<engine::WaitClearOutcome>) {}),
                0u);
    }
  }
  const int64_t h1 = Heap();
  ASSERT_EQ(core.StateForStore().outcomes.size(), size_t{kSessions} * kPerSession);
  const double outcome = static_cast<double>(h1 - h0) / (kSessions * kPerSession);
  std::printf("core heap per kept outcome %.0f B\n", outcome);
  RecordProperty("outcome_bytes", static_cast<int>(outcome));
  EXPECT_LE(outcome, kOutcomeBudget);
}

}  // namespace
}  // namespace semaphored::internal
