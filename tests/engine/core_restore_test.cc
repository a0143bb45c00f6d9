// Core::Restore: a core rebuilt from the stored state is the core that recorded it
// (same sessions, holders with their tokens, queues in order), carries on as it would
// have, renews every session by one TTL, lets a retried request claim its orphaned
// waiter, and refuses a state that contradicts itself.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "engine/core.h"
#include "engine/counter_token_source.h"
#include "tests/common/status_matchers.h"
#include "tests/engine/core_test_util.h"
#include "tests/engine/fake_store.h"
#include "tests/engine/store_workload.h"
#include "tests/store/store_model.h"

namespace semaphored::internal {
namespace {

using engine::Core;
using engine::CoreOptions;
using engine::CounterTokenSource;
using engine::EffectBatch;
using engine::SemaphoreSnapshot;
using engine::SetArgs;
using engine::StoredHolder;
using engine::StoredSemaphore;
using engine::StoredState;
using engine::StoredWaiter;
using engine::WaitClearArgs;
using engine::WaiterId;
using ::semaphored::store::testing::Dump;
using ::semaphored::store::testing::StoreModel;
using ::semaphored::testing::IsOk;
using ::semaphored::testing::StatusIs;
using ::testing::HasSubstr;

const absl::Time kT0 = absl::FromUnixSeconds(1'780'000'000);

CoreOptions WithStore(FakeStore* store) {
  CoreOptions o;
  o.store = store;
  return o;
}

void MoveTo(FakeClock& clock, absl::Time t) { clock.Advance(t - clock.Now()); }

// Commits until nothing is left to commit.
void Flush(Core& core) {
  for (int i = 0; i < 1000 && core.CommitBatch(); ++i) {
  }
}

// What a store that committed every batch of `store` would load.
StoredState Loaded(const FakeStore& store) {
  StoreModel model;
  for (const EffectBatch& batch : store.batches()) model.Apply(batch);
  return model.State();
}

// The engine keeps no maximum of its random session ids (StateForStore gives 0).
std::string DumpWithoutLastSession(StoredState state) {
  state.last_session = 0;
  return Dump(state);
}

// Everything a listing shows of the semaphores, one line each.
std::string ListText(const Core& core) {
  std::string out;
  for (const SemaphoreSnapshot& s : core.ListSemaphores("", "", 1'000'000)) {
    absl::StrAppend(&out, s.name, " limit=", s.limit, " held=", s.permits_held, " holders:");
    for (const auto& h : s.holders) {
      absl::StrAppend(&out, " ", h.session_id, "/", h.client_name, "/", h.grant.permits, "/",
                      h.grant.fencing_token, "@", absl::FormatTime(h.grant.grant_time));
    }
    absl::StrAppend(&out, " waiters:");
    for (const auto& w : s.waiters) {
      absl::StrAppend(&out, " ", w.session_id, "/", w.permits, "@",
                      absl::FormatTime(w.enqueue_time));
    }
    absl::StrAppend(&out, "\n");
  }
  return out;
}

SetArgs Wait(std::string name, absl::Duration timeout, int32_t permits = 1) {
  SetArgs a;
  a.name = std::move(name);
  a.permits = permits;
  a.wait.timeout = timeout;
  return a;
}

WaitClearArgs WaitForClear(std::string name, absl::Duration timeout) {
  WaitClearArgs a;
  a.name = std::move(name);
  a.wait.timeout = timeout;
  return a;
}

TEST(CoreRestoreTest, RestoredCoreIsTheCoreThatRecordedItAndCarriesOnAlike) {
  size_t restored_holders = 0;
  size_t restored_waiters = 0;
  size_t restored_outcomes = 0;
  int cleared = 0;
  for (uint64_t seed = 1; seed <= 32; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    FakeClock clock_a(kT0);
    CounterTokenSource tokens_a;
    FakeStore store_a;
    CoreOptions options = WithStore(&store_a);
    WorkloadStats stats;
    Core a(&clock_a, &tokens_a, options);
    RunStoreWorkload(a, clock_a, seed, 300, stats);
    Flush(a);
    const StoredState state = Loaded(store_a);
    const std::vector<EffectBatch> recorded_by_a = store_a.batches();
    for (const StoredSemaphore& sem : state.semaphores) {
      restored_holders += sem.holders.size();
      restored_waiters += sem.waiters.size();
    }
    restored_outcomes += state.outcomes.size();

    FakeClock clock_b(clock_a.Now());
    CounterTokenSource tokens_b(state.token_high_water);
    FakeStore store_b;
    Core b(&clock_b, &tokens_b, WithStore(&store_b));
    ASSERT_THAT(b.Restore(state), IsOk());
    ASSERT_THAT(b.CheckInvariants(), IsOk());
    EXPECT_FALSE(b.CommitBatch()) << "Restore recorded effects";
    EXPECT_EQ(Dump(b.StateForStore()), DumpWithoutLastSession(state));
    EXPECT_EQ(ListText(b), ListText(a));
    EXPECT_EQ(b.Counts().sessions, a.Counts().sessions);
    EXPECT_EQ(b.Counts().held_semaphores, a.Counts().held_semaphores);
    EXPECT_EQ(b.Counts().waiters, a.Counts().waiters);
    for (const StoredSemaphore& sem : state.semaphores) {
      const SemaphoreSnapshot test = b.Test(sem.name);
      EXPECT_EQ(test.holder_count, static_cast<int32_t>(sem.holders.size())) << sem.name;
    }

    // The same clears on both: the queues hand on alike, in FIFO order, with the same
    // tokens (the restored token source continues at the high-water).
    for (const StoredSemaphore& sem : state.semaphores) {
      for (const StoredHolder& h : sem.holders) {
        ASSERT_THAT(a.Clear(h.session, sem.name), IsOk());
        ASSERT_THAT(b.Clear(h.session, sem.name), IsOk());
        ++cleared;
      }
    }
    Flush(a);
    Flush(b);
    ASSERT_THAT(b.CheckInvariants(), IsOk());
    EXPECT_EQ(Dump(b.StateForStore()), Dump(a.StateForStore()));
    EXPECT_EQ(ListText(b), ListText(a));
    // And what B recorded, applied after what A had, is B's state.
    StoreModel model;
    for (const EffectBatch& batch : recorded_by_a) model.Apply(batch);
    for (const EffectBatch& batch : store_b.batches()) model.Apply(batch);
    EXPECT_EQ(DumpWithoutLastSession(model.State()), Dump(b.StateForStore()));
    // Every grant made after the restore has a token above the stored high-water.
    for (const StoredSemaphore& sem : b.StateForStore().semaphores) {
      for (const StoredHolder& h : sem.holders) {
        bool restored = false;
        for (const StoredSemaphore& old : state.semaphores) {
          if (old.name != sem.name) continue;
          for (const StoredHolder& o : old.holders) restored |= o.fencing_token == h.fencing_token;
        }
        if (!restored) EXPECT_GT(h.fencing_token, state.token_high_water) << sem.name;
      }
    }
  }
  // The workloads left enough behind to test anything (stopped mid-way, at 300 steps;
  // the same for every compiler: store_workload.h draws one number per statement).
  EXPECT_GT(restored_holders, 20u);
  EXPECT_GT(restored_waiters, 20u);
  EXPECT_GT(restored_outcomes, 20u);
  EXPECT_EQ(cleared, static_cast<int>(restored_holders));
}

// Issue 11's "Done when", at the engine: A holds printer, B waits; the server
// restarts; A refreshes, Test shows A with its token and one waiter; B's retry claims
// its place, C queues after it; A clears: B gets printer with a larger token, not C.
TEST(CoreRestoreTest, IssueElevenSequence) {
  FakeClock clock(kT0);
  CounterTokenSource tokens;
  FakeStore store;
  Core before(&clock, &tokens, WithStore(&store));
  ASSERT_OK_AND_ASSIGN(engine::NewSession a, before.CreateSession("A", absl::Seconds(30)));
  ASSERT_OK_AND_ASSIGN(engine::NewSession b, before.CreateSession("B", absl::Seconds(30)));
  SetAnswer a_set;
  before.Set(a.id, Wait("printer", absl::ZeroDuration()), a_set.Callback());
  SetAnswer b_first;
  const WaiterId b_waiter = before.Set(b.id, Wait("printer", absl::Seconds(60)), b_first.Callback());
  ASSERT_NE(b_waiter, 0u);
  Flush(before);
  ASSERT_TRUE(a_set.done());
  ASSERT_THAT(*a_set.value, IsOk());
  ASSERT_TRUE(a_set.value->value().acquired);
  const uint64_t a_token = a_set.value->value().grant.fencing_token;
  const StoredState state = Loaded(store);

  // The restart: 20 s later, a new core on what the store kept.
  FakeClock clock2(kT0 + absl::Seconds(20));
  CounterTokenSource tokens2(state.token_high_water);
  FakeStore store2;
  Core after(&clock2, &tokens2, WithStore(&store2));
  ASSERT_THAT(after.Restore(state), IsOk());
  ASSERT_OK_AND_ASSIGN(absl::Time expiry, after.Refresh(a.id));
  EXPECT_EQ(expiry, kT0 + absl::Seconds(50));
  ASSERT_OK_AND_ASSIGN(SessionId by_secret, after.Authenticate(b.secret));
  EXPECT_EQ(by_secret, b.id);
  SemaphoreSnapshot test = after.Test("printer");
  ASSERT_EQ(test.holders.size(), 1u);
  EXPECT_EQ(test.holders[0].session_id, a.id);
  EXPECT_EQ(test.holders[0].client_name, "A");
  EXPECT_EQ(test.holders[0].grant.fencing_token, a_token);
  EXPECT_EQ(test.waiter_count, 1);

  SetAnswer b_retry;
  EXPECT_EQ(after.Set(b.id, Wait("printer", absl::Seconds(60)), b_retry.Callback()), b_waiter)
      << "the retry claims B's place";
  EXPECT_EQ(after.Counts().waiters, 1);
  ASSERT_OK_AND_ASSIGN(engine::NewSession c, after.CreateSession("C", absl::Seconds(30)));
  SetAnswer c_set;
  const WaiterId c_waiter = after.Set(c.id, Wait("printer", absl::Seconds(60)), c_set.Callback());
  EXPECT_GT(c_waiter, b_waiter);
  Flush(after);
  EXPECT_FALSE(b_retry.done());

  ASSERT_THAT(after.Clear(a.id, "printer"), IsOk());
  Flush(after);
  ASSERT_TRUE(b_retry.done());
  ASSERT_THAT(*b_retry.value, IsOk());
  EXPECT_TRUE(b_retry.value->value().acquired);
  EXPECT_FALSE(b_retry.value->value().already_held);
  EXPECT_GT(b_retry.value->value().grant.fencing_token, a_token);
  EXPECT_FALSE(c_set.done());
  test = after.Test("printer");
  ASSERT_EQ(test.holders.size(), 1u);
  EXPECT_EQ(test.holders[0].session_id, b.id);
  EXPECT_EQ(test.waiter_count, 1);
  EXPECT_FALSE(b_first.done()) << "the first call's answer went with the old core";
  EXPECT_THAT(after.CheckInvariants(), IsOk());
}

// Two sessions and semaphore "x" held by the first; built by hand for the tests below.
class RestoredCoreTest : public ::testing::Test {
 protected:
  // The first id is at least 2^63: ids are random 64-bit values.
  static constexpr SessionId kA = 0x8000'0000'0000'0001;
  static constexpr SessionId kB = 2;

  RestoredCoreTest()
      : clock_(kT0 + absl::Seconds(100)),
        tokens_(kHighWater),
        core_(&clock_, &tokens_, WithStore(&store_)) {}
  void TearDown() override { EXPECT_THAT(core_.CheckInvariants(), IsOk()); }

  static constexpr uint64_t kHighWater = 41;

  // A holds x (limit 1, token 40) and B waits for it (waiter 7, `deadline`); waiter 9 is
  // B's wait-for-clear on x.
  static StoredState State(absl::Time deadline = absl::InfiniteFuture()) {
    StoredState s;
    s.sessions.push_back({kA, "secret-a", "A", "10.0.0.1", absl::Seconds(30)});
    s.sessions.push_back({kB, "secret-b", "B", "10.0.0.2", absl::Seconds(10)});
    StoredSemaphore x;
    x.name = "x";
    x.limit = 1;
    x.holders.push_back(StoredHolder{kA, 1, 40, kT0});
    x.waiters.push_back(StoredWaiter{7, kB, false, 1, deadline, kT0 + absl::Seconds(1)});
    x.waiters.push_back(StoredWaiter{9, kB, true, 0, absl::InfiniteFuture(), kT0});
    s.semaphores.push_back(x);
    s.token_high_water = kHighWater;
    s.last_waiter = 9;
    s.last_session = kA;
    return s;
  }

  std::vector<std::string> Committed() {
    std::vector<std::string> out;
    const size_t before = store_.batches().size();
    Flush(core_);
    const std::vector<EffectBatch> batches = store_.batches();
    EffectText text;
    text.Name(kA, "A");
    text.Name(kB, "B");
    for (size_t i = before; i < batches.size(); ++i) {
      for (const std::string& line : text(batches[i])) out.push_back(line);
    }
    return out;
  }

  FakeClock clock_;
  CounterTokenSource tokens_;
  FakeStore store_;
  Core core_;
};

TEST_F(RestoredCoreTest, OrphanGrantedBeforeItsRetryIsHeldAndTheRetryGetsItsToken) {
  ASSERT_THAT(core_.Restore(State()), IsOk());
  ASSERT_THAT(core_.Clear(kA, "x"), IsOk());
  // B's orphan is granted (with nobody to tell), then its wait-for-clear stays.
  EXPECT_THAT(Committed(), ::testing::ElementsAre("HolderRemoved x A", "WaiterRemoved 7",
                                                  "HolderAdded x B permits=1 token=42",
                                                  "TokenHighWater 42"));
  SetAnswer retry;
  EXPECT_EQ(core_.Set(kB, Wait("x", absl::Seconds(60)), retry.Callback()), 0u);
  ASSERT_TRUE(retry.done());
  ASSERT_THAT(*retry.value, IsOk());
  EXPECT_TRUE(retry.value->value().acquired);
  EXPECT_TRUE(retry.value->value().already_held);
  EXPECT_EQ(retry.value->value().grant.fencing_token, 42u);
  EXPECT_THAT(Committed(), ::testing::IsEmpty());
}

TEST_F(RestoredCoreTest, OrphanWhoseDeadlinePassedIsRemovedByTheNextTick) {
  // Its deadline passed while the server was down.
  ASSERT_THAT(core_.Restore(State(kT0 + absl::Seconds(60))), IsOk());
  EXPECT_EQ(core_.NextDeadline(), kT0 + absl::Seconds(60));
  core_.Tick();
  EXPECT_THAT(Committed(), ::testing::ElementsAre("WaiterRemoved 7"));
  EXPECT_EQ(core_.Counts().waiters, 1);  // the wait-for-clear, which has no deadline
  EXPECT_EQ(core_.Test("x").waiter_count, 0);
}

TEST_F(RestoredCoreTest, RetryClaimsWithTheEarlierDeadline) {
  struct Case {
    const char* what;
    absl::Time stored;
    absl::Duration retry_wait;
    absl::Time times_out;
  };
  const absl::Time now = kT0 + absl::Seconds(100);
  const Case cases[] = {
      {"stored deadline earlier", now + absl::Seconds(5), absl::Seconds(60),
       now + absl::Seconds(5)},
      {"retry's wait earlier", now + absl::Seconds(50), absl::Seconds(3),
       now + absl::Seconds(3)},
      {"stored without a deadline", absl::InfiniteFuture(), absl::Seconds(4),
       now + absl::Seconds(4)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    FakeClock clock(now);
    CounterTokenSource tokens(kHighWater);
    FakeStore store;
    Core core(&clock, &tokens, WithStore(&store));
    ASSERT_THAT(core.Restore(State(c.stored)), IsOk());
    SetAnswer retry;
    EXPECT_EQ(core.Set(kB, Wait("x", c.retry_wait), retry.Callback()), 7u);
    EXPECT_EQ(core.NextDeadline(), c.times_out);
    MoveTo(clock, c.times_out - absl::Nanoseconds(1));
    core.Tick();
    Flush(core);
    EXPECT_FALSE(retry.done());
    MoveTo(clock, c.times_out);
    core.Tick();
    Flush(core);
    ASSERT_TRUE(retry.done());
    ASSERT_THAT(*retry.value, IsOk());
    EXPECT_FALSE(retry.value->value().acquired);
    EXPECT_THAT(core.CheckInvariants(), IsOk());
  }
}

TEST_F(RestoredCoreTest, TryWhileTheOrphanWaitsIsNotAcquiredAndTheOrphanKeepsItsPlace) {
  ASSERT_THAT(core_.Restore(State()), IsOk());
  SetAnswer attempt;
  EXPECT_EQ(core_.Set(kB, Wait("x", absl::ZeroDuration()), attempt.Callback()), 0u);
  Flush(core_);
  ASSERT_TRUE(attempt.done());
  ASSERT_THAT(*attempt.value, IsOk());
  EXPECT_FALSE(attempt.value->value().acquired);
  SetAnswer claim;
  EXPECT_EQ(core_.Set(kB, Wait("x", absl::Seconds(60)), claim.Callback()), 7u)
      << "the orphan is still there to claim";
  SetAnswer second;
  EXPECT_EQ(core_.Set(kB, Wait("x", absl::Seconds(60)), second.Callback()), 10u)
      << "no orphan left: a new waiter after last_waiter";
  ASSERT_THAT(core_.Clear(kA, "x"), IsOk());
  Flush(core_);
  ASSERT_TRUE(claim.done());
  EXPECT_TRUE(claim.value->value().acquired);
  EXPECT_FALSE(claim.value->value().already_held);
  ASSERT_TRUE(second.done());
  EXPECT_TRUE(second.value->value().already_held);
}

TEST_F(RestoredCoreTest, RetryWithOtherPermitsDoesNotClaim) {
  StoredState state = State();
  state.semaphores[0].limit = 2;
  state.semaphores[0].holders[0].permits = 2;
  ASSERT_THAT(core_.Restore(state), IsOk());
  SetAnswer other;
  EXPECT_EQ(core_.Set(kB, Wait("x", absl::Seconds(60), 2), other.Callback()), 10u);
  EXPECT_EQ(core_.Counts().waiters, 3);
}

TEST_F(RestoredCoreTest, WaitClearRetryClaimsItsOrphan) {
  ASSERT_THAT(core_.Restore(State()), IsOk());
  ClearAnswer check;
  EXPECT_EQ(core_.WaitClear(kB, WaitForClear("x", absl::ZeroDuration()), check.Callback()), 0u);
  Flush(core_);
  ASSERT_TRUE(check.done());
  EXPECT_FALSE(check.value->value().clear) << "a check leaves the orphan in place";
  ClearAnswer retry;
  EXPECT_EQ(core_.WaitClear(kB, WaitForClear("x", absl::Seconds(60)), retry.Callback()), 9u);
  ClearAnswer again;
  EXPECT_EQ(core_.WaitClear(kB, WaitForClear("x", absl::Seconds(60)), again.Callback()), 10u)
      << "claimed once; another wait queues anew";
  ASSERT_THAT(core_.CheckInvariants(), IsOk());
  // B's set orphan is cancelled (as a broken call would), so that clearing frees x.
  core_.Cancel(7);
  ASSERT_THAT(core_.Clear(kA, "x"), IsOk());
  Flush(core_);
  ASSERT_TRUE(retry.done());
  EXPECT_TRUE(retry.value->value().clear);
  ASSERT_TRUE(again.done());
}

TEST_F(RestoredCoreTest, SessionsEndOneTtlAfterTheRestoreUnlessRefreshed) {
  const absl::Time restored = clock_.Now();
  ASSERT_THAT(core_.Restore(State()), IsOk());
  ASSERT_OK_AND_ASSIGN(engine::SessionSnapshot b, core_.GetSession(kB));
  EXPECT_EQ(b.expire_time, restored + absl::Seconds(10));
  EXPECT_EQ(core_.NextDeadline(), restored + absl::Seconds(10));
  MoveTo(clock_, restored + absl::Seconds(10) - absl::Nanoseconds(1));
  core_.Tick();
  EXPECT_THAT(Committed(), ::testing::IsEmpty());
  EXPECT_THAT(core_.Refresh(kA), IsOk());  // A: renewed to now + 30 s; B is not
  MoveTo(clock_, restored + absl::Seconds(10));
  core_.Tick();
  EXPECT_THAT(core_.Refresh(kB), StatusIs(absl::StatusCode::kUnauthenticated));
  // B ended: its waiters leave, unanswered (orphans), and its end is recorded.
  EXPECT_THAT(Committed(), ::testing::ElementsAre("WaiterRemoved 7", "WaiterRemoved 9",
                                                  "SessionEnded B"));
  MoveTo(clock_, restored + absl::Seconds(30));
  core_.Tick();
  EXPECT_THAT(core_.Refresh(kA), IsOk()) << "refreshed after the restore";
  EXPECT_THAT(Committed(), ::testing::IsEmpty());
}

TEST_F(RestoredCoreTest, PerPeerSessionCountsIncludeRestoredSessions) {
  FakeClock clock;
  CounterTokenSource tokens(kHighWater);
  CoreOptions options;
  options.max_sessions_per_peer = 1;
  Core core(&clock, &tokens, options);
  ASSERT_THAT(core.Restore(State()), IsOk());
  EXPECT_THAT(core.CreateSession("again", absl::Seconds(10), "10.0.0.1"),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(core.CreateSession("other", absl::Seconds(10), "10.0.0.3"), IsOk());
  EXPECT_THAT(core.CheckInvariants(), IsOk());
}

TEST_F(RestoredCoreTest, ContradictoryStatesAreDataLossAndLeaveTheCoreNew) {
  struct Case {
    const char* what;
    void (*spoil)(StoredState&);
    const char* message;
  };
  const Case cases[] = {
      {"holder of an unknown session",
       [](StoredState& s) { s.semaphores[0].holders[0].session = 99; }, "is not stored"},
      {"waiter of an unknown session",
       [](StoredState& s) { s.semaphores[0].waiters[0].session = 99; }, "which is not stored"},
      {"over its limit",
       [](StoredState& s) {
         s.semaphores[0].holders.push_back(StoredHolder{kB, 1, 41, kT0});
         s.semaphores[0].waiters.clear();
       },
       "more than its limit 1"},
      {"duplicate semaphore", [](StoredState& s) { s.semaphores.push_back(s.semaphores[0]); },
       "semaphore \"x\" is stored twice"},
      {"duplicate session", [](StoredState& s) { s.sessions.push_back(s.sessions[1]); },
       "is stored twice"},
      {"duplicate secret", [](StoredState& s) { s.sessions[1].secret = "secret-a"; },
       "the secret of another session"},
      {"duplicate holder",
       [](StoredState& s) {
         s.semaphores[0].limit = 2;
         s.semaphores[0].holders.push_back(StoredHolder{kA, 1, 41, kT0});
       },
       "is stored twice"},
      {"duplicate waiter id",
       [](StoredState& s) {
         StoredSemaphore y;
         y.name = "y";
         y.holders.push_back(StoredHolder{kB, 1, 41, kT0});
         y.waiters.push_back(StoredWaiter{7, kA, false, 1, absl::InfiniteFuture(), kT0});
         s.semaphores.push_back(y);
       },
       "waiter 7 is stored twice"},
      {"holder permits zero", [](StoredState& s) { s.semaphores[0].holders[0].permits = 0; },
       "has 0 permits"},
      {"waiter permits above the limit",
       [](StoredState& s) { s.semaphores[0].waiters[0].permits = 2; }, "asks for 2 permits"},
      {"limit out of range", [](StoredState& s) { s.semaphores[0].limit = 0; }, "has limit 0"},
      {"token above the high-water", [](StoredState& s) { s.token_high_water = 39; },
       "above the stored high-water 39"},
      {"holders out of token order",
       [](StoredState& s) {
         s.semaphores[0].limit = 2;
         s.semaphores[0].holders.push_back(StoredHolder{kB, 1, 30, kT0});
         s.semaphores[0].waiters.clear();
       },
       "not above the token of the grant before it"},
      {"waiter id above last_waiter", [](StoredState& s) { s.last_waiter = 8; },
       "above the last waiter id 8"},
      {"waiters out of id order",
       [](StoredState& s) { std::swap(s.semaphores[0].waiters[0], s.semaphores[0].waiters[1]); },
       "not in waiter id order"},
      {"semaphore with nothing on it",
       [](StoredState& s) {
         s.semaphores[0].holders.clear();
         s.semaphores[0].waiters.clear();
       },
       "no holders and no waiters"},
      {"grantable head left waiting",
       [](StoredState& s) {
         s.semaphores[0].limit = 2;
         s.semaphores[0].waiters.pop_back();
       },
       "heads the queue but its 1 permits are free"},
      {"wait-for-clear on a clear semaphore",
       [](StoredState& s) {
         s.semaphores[0].holders.clear();
         s.semaphores[0].waiters.erase(s.semaphores[0].waiters.begin());
       },
       "waits for a clear semaphore"},
      {"a holder waits for its own semaphore",
       [](StoredState& s) { s.semaphores[0].waiters[0].session = kA; }, "already holds it"},
      {"session ttl zero", [](StoredState& s) { s.sessions[0].ttl = absl::ZeroDuration(); },
       "not a positive finite duration"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    FakeClock clock;
    CounterTokenSource tokens(kHighWater);
    Core core(&clock, &tokens);
    StoredState state = State();
    c.spoil(state);
    EXPECT_THAT(core.Restore(state),
                StatusIs(absl::StatusCode::kDataLoss, HasSubstr(c.message)));
    const engine::CoreCounts counts = core.Counts();
    EXPECT_EQ(counts.sessions + counts.semaphores + counts.held_semaphores + counts.waiters +
                  counts.peers,
              0);
    EXPECT_THAT(core.Authenticate("secret-a"), StatusIs(absl::StatusCode::kUnauthenticated));
    // Left as new: the good state still restores.
    EXPECT_THAT(core.Restore(State()), IsOk());
    EXPECT_THAT(core.CheckInvariants(), IsOk());
  }
}

TEST_F(RestoredCoreTest, RestoreTwiceOrAfterAnOperationIsFailedPrecondition) {
  ASSERT_THAT(core_.Restore(StoredState{}), IsOk());
  EXPECT_THAT(core_.Restore(State()), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(core_.Counts().sessions, 0);

  FakeClock clock;
  CounterTokenSource tokens;
  Core used(&clock, &tokens);
  ASSERT_THAT(used.CreateSession("c", absl::Seconds(10)), IsOk());
  EXPECT_THAT(used.Restore(State()), StatusIs(absl::StatusCode::kFailedPrecondition,
                                              HasSubstr("restore only into a new core")));
  EXPECT_EQ(used.Counts().sessions, 1);

  Core ended(&clock, &tokens);
  ASSERT_OK_AND_ASSIGN(engine::NewSession s, ended.CreateSession("c", absl::Seconds(10)));
  ASSERT_THAT(ended.CloseSession(s.id), IsOk());
  EXPECT_THAT(ended.Restore(State()), StatusIs(absl::StatusCode::kFailedPrecondition));
}

// Restoring costs the same work per record whatever the size: twice the state, twice
// the work.
TEST(CoreRestoreCostTest, WorkIsLinearInTheState) {
  auto work_for = [](int n) {
    StoredState state;
    for (int i = 1; i <= 10; ++i) {
      state.sessions.push_back(
          {static_cast<SessionId>(i), absl::StrCat("s", i), "c", "p", absl::Seconds(10)});
    }
    for (int i = 0; i < n; ++i) {
      StoredSemaphore sem;
      sem.name = absl::StrCat("n", i);
      sem.holders.push_back(
          StoredHolder{static_cast<SessionId>(1 + i % 10), 1, static_cast<uint64_t>(i + 1), kT0});
      sem.waiters.push_back(StoredWaiter{static_cast<WaiterId>(i + 1),
                                         static_cast<SessionId>(1 + (i + 1) % 10), false, 1,
                                         kT0 + absl::Seconds(i), kT0});
      state.semaphores.push_back(std::move(sem));
    }
    state.token_high_water = static_cast<uint64_t>(n);
    state.last_waiter = static_cast<WaiterId>(n);
    FakeClock clock;
    CounterTokenSource tokens(state.token_high_water);
    Core core(&clock, &tokens);
    EXPECT_THAT(core.Restore(state), IsOk());
    EXPECT_EQ(core.Counts().held_semaphores, n);
    return core.WorkDone();
  };
  const uint64_t small = work_for(1000);
  const uint64_t large = work_for(2000);
  EXPECT_EQ(large - small, small - work_for(0));
}

}  // namespace
}  // namespace semaphored::internal
