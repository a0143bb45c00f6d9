// The core's global caps and per-peer limits: each refusal is RESOURCE_EXHAUSTED
// naming the limit, its value and the flag that sets it; nothing else changes.

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
using engine::SemaphoreSnapshot;
using engine::SetArgs;
using engine::SetOutcome;
using engine::WaiterId;
using engine::kMaxFencingToken;

namespace {

using ::semaphored::testing::IsOk;
using ::semaphored::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr auto kExhausted = absl::StatusCode::kResourceExhausted;

// Options with every new limit off or far away, so that each case sets only its own.
CoreOptions Unlimited() {
  CoreOptions o;
  o.max_sessions_per_peer = 0;
  o.session_rate_per_peer = 0;
  return o;
}

class GlobalCapsTest : public CoreTestBase {
 protected:
  static CoreOptions Small() {
    CoreOptions o = Unlimited();
    o.max_semaphores = 3;
    o.max_holds = 4;
    o.max_waiters = 3;
    o.max_waiters_per_session = 2;
    return o;
  }
  GlobalCapsTest() : CoreTestBase(Small()) {}

  // Answer of a set that would queue (or be refused at once).
  absl::StatusOr<SetOutcome> TryQueue(SessionId s, const std::string& name) {
    SetAnswer answer;
    WaiterId id = core_.Set(s, Args(name, absl::InfiniteFuture()), answer.Callback());
    if (id != 0) return absl::InternalError("queued");
    return *answer.value;
  }
};

TEST_F(GlobalCapsTest, MaxSemaphoresRefusesANewNameButNotAnExistingOne) {
  SessionId a = Open();
  SessionId b = Open();
  for (const char* name : {"x", "y", "z"})
    ASSERT_THAT(SetNow(a, Args(name, absl::InfinitePast(), 1, 2)), IsOk());
  EXPECT_THAT(
      SetNow(a, Args("w")),
      StatusIs(kExhausted, AllOf(HasSubstr("3 semaphores"), HasSubstr("max_semaphores"),
                                 HasSubstr("--max_semaphores"), HasSubstr("\"w\""))));
  EXPECT_EQ(core_.Counts().semaphores, 3);
  // An existing semaphore takes no new record.
  ASSERT_OK_AND_ASSIGN(SetOutcome out, SetNow(b, Args("x")));
  EXPECT_TRUE(out.acquired);
  ASSERT_THAT(core_.Clear(a, "z"), IsOk());
  EXPECT_THAT(SetNow(a, Args("w")), IsOk());
}

TEST_F(GlobalCapsTest, MaxHoldsCountsEverySessionsHolds) {
  SessionId a = Open();
  SessionId b = Open();
  ASSERT_THAT(SetNow(a, Args("x", absl::InfinitePast(), 1, 3)), IsOk());
  ASSERT_THAT(SetNow(a, Args("y", absl::InfinitePast(), 1, 3)), IsOk());
  ASSERT_THAT(SetNow(b, Args("x")), IsOk());
  ASSERT_THAT(SetNow(b, Args("y")), IsOk());
  EXPECT_THAT(SetNow(b, Args("z")),
              StatusIs(kExhausted, AllOf(HasSubstr("4 holds"), HasSubstr("--max_holds"),
                                         HasSubstr("\"z\""))));
  SessionId c = Open();
  EXPECT_THAT(SetNow(c, Args("x")), StatusIs(kExhausted, HasSubstr("max_holds")));
  EXPECT_EQ(core_.Counts().held_semaphores, 4);
  EXPECT_EQ(core_.Test("z").limit, 0) << "a refused set leaves no semaphore behind";
}

TEST_F(GlobalCapsTest, AQueuedRequestOverMaxHoldsFailsWhenItsTurnComes) {
  SessionId a = Open();
  SessionId b = Open();
  ASSERT_THAT(SetNow(a, Args("x", absl::InfinitePast(), 2, 2)), IsOk());
  SetAnswer first;
  SetAnswer second;
  SetWait(b, "x", first);
  SessionId c = Open();
  SetWait(c, "x", second);
  SessionId d = Open();
  ASSERT_THAT(SetNow(a, Args("p", absl::InfinitePast(), 1, 2)), IsOk());
  ASSERT_THAT(SetNow(d, Args("p")), IsOk());
  ASSERT_THAT(SetNow(a, Args("q")), IsOk());  // 4 holds
  // Releasing x (one hold, two permits) lets b in (4 holds again); c finds the cap.
  ASSERT_THAT(core_.Clear(a, "x"), IsOk());
  ASSERT_TRUE(first.done() && second.done());
  ASSERT_THAT(first.value->status(), IsOk());
  EXPECT_TRUE((*first.value)->acquired);
  EXPECT_THAT(*second.value, StatusIs(kExhausted, HasSubstr("max_holds")));
  EXPECT_EQ(core_.Counts().held_semaphores, 4);
}

TEST_F(GlobalCapsTest, WaiterCapsPerSessionAndInTotal) {
  SessionId holder = Open();
  SessionId a = Open();
  SessionId b = Open();
  for (const char* name : {"x", "y", "z"}) ASSERT_THAT(SetNow(holder, Args(name)), IsOk());
  SetAnswer a1, a2, b1;
  SetWait(a, "x", a1);
  SetWait(a, "y", a2);
  // Per session: a has 2 queued requests; a wait-for-clear counts too.
  EXPECT_THAT(
      TryQueue(a, "z"),
      StatusIs(kExhausted, AllOf(HasSubstr("2 queued requests"),
                                 HasSubstr("--max_waiters_per_session"), HasSubstr("\"z\""))));
  ClearAnswer cleared;
  EXPECT_EQ(core_.WaitClear(a, {"z", {absl::InfiniteDuration()}}, cleared.Callback()), 0u);
  ASSERT_TRUE(cleared.done());
  EXPECT_THAT(*cleared.value, StatusIs(kExhausted, HasSubstr("max_waiters_per_session")));
  // In total: 3.
  SetWait(b, "z", b1);
  SessionId c = Open();
  EXPECT_THAT(TryQueue(c, "z"), StatusIs(kExhausted, AllOf(HasSubstr("3 queued requests"),
                                                           HasSubstr("--max_waiters"))));
  // A try is still answered.
  ASSERT_OK_AND_ASSIGN(SetOutcome tried, SetNow(c, Args("z")));
  EXPECT_FALSE(tried.acquired);
  EXPECT_EQ(core_.Counts().waiters, 3);
  // A cancelled wait makes room.
  core_.Cancel(core_.Set(c, Args("z", absl::InfiniteFuture()), [](auto) {}));
  ASSERT_THAT(core_.Clear(holder, "x"), IsOk());
  SetAnswer c1;
  SetWait(c, "y", c1);
  EXPECT_EQ(core_.Counts().waiters, 3);
}

class PeerLimitsTest : public CoreTestBase {
 protected:
  static CoreOptions Small() {
    CoreOptions o;
    o.max_sessions_per_peer = 3;
    o.session_rate_per_peer = 2;  // per second
    o.session_burst_per_peer = 4;
    return o;
  }
  PeerLimitsTest() : CoreTestBase(Small()) {}

  absl::StatusOr<SessionId> OpenFrom(const std::string& peer) {
    absl::StatusOr<NewSession> s = core_.CreateSession("c", absl::ZeroDuration(), peer);
    if (!s.ok()) return s.status();
    return s->id;
  }
};

TEST_F(PeerLimitsTest, SessionsPerPeerAreCountedByThePeerString) {
  std::vector<SessionId> ids;
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(SessionId id, OpenFrom("127.0.0.1"));
    ids.push_back(id);
  }
  EXPECT_THAT(OpenFrom("127.0.0.1"),
              StatusIs(kExhausted, AllOf(HasSubstr("peer 127.0.0.1"), HasSubstr("3 sessions"),
                                         HasSubstr("--max_sessions_per_peer"))));
  // Another peer has its own count.
  EXPECT_THAT(OpenFrom("::1"), IsOk());
  // Ending a session (any way) makes room.
  ASSERT_THAT(core_.CloseSession(ids[0]), IsOk());
  EXPECT_THAT(OpenFrom("127.0.0.1"), IsOk());
  ASSERT_THAT(core_.EndSession(ids[1], "test"), IsOk());
  clock_.Advance(absl::Seconds(1));
  EXPECT_THAT(OpenFrom("127.0.0.1"), IsOk());
  EXPECT_EQ(core_.Counts().peers, 2);
}

TEST_F(PeerLimitsTest, CreationRateIsATokenBucketOnTheCoresClock) {
  // A burst of 4, then one every 500 ms; sessions closed meanwhile give nothing back.
  for (int i = 0; i < 4; ++i) {
    ASSERT_OK_AND_ASSIGN(SessionId id, OpenFrom("10.0.0.7"));
    ASSERT_THAT(core_.CloseSession(id), IsOk());
  }
  EXPECT_THAT(OpenFrom("10.0.0.7"),
              StatusIs(kExhausted, AllOf(HasSubstr("peer 10.0.0.7"), HasSubstr("2 per second"),
                                         HasSubstr("bursts of 4"), HasSubstr("retry in 500ms"),
                                         HasSubstr("--session_rate_per_peer"))));
  EXPECT_THAT(OpenFrom("10.0.0.8"), IsOk());
  clock_.Advance(absl::Milliseconds(499));
  EXPECT_THAT(OpenFrom("10.0.0.7"), StatusIs(kExhausted, HasSubstr("retry in 1ms")));
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_THAT(OpenFrom("10.0.0.7"), IsOk());
  EXPECT_THAT(OpenFrom("10.0.0.7"), StatusIs(kExhausted));
  // A long pause refills the bucket up to the burst, no further.
  clock_.Advance(absl::Hours(1));
  for (int i = 0; i < 2; ++i) EXPECT_THAT(OpenFrom("10.0.0.7"), IsOk());  // 3 sessions now
  ASSERT_THAT(core_.CheckInvariants(), IsOk());
}

TEST_F(PeerLimitsTest, BurstIsNotExceededAfterALongPause) {
  clock_.Advance(absl::Hours(1));
  std::vector<SessionId> ids;
  for (int i = 0; i < 4; ++i) {
    ASSERT_OK_AND_ASSIGN(SessionId id, OpenFrom("p"));
    ASSERT_THAT(core_.CloseSession(id), IsOk());
  }
  EXPECT_THAT(OpenFrom("p"), StatusIs(kExhausted, HasSubstr("bursts of 4")));
}

TEST_F(PeerLimitsTest, IdlePeersAreForgottenOnceTheirBucketHasRefilled) {
  for (int i = 0; i < 100; ++i) {
    ASSERT_OK_AND_ASSIGN(SessionId id, OpenFrom(absl::StrCat("10.1.0.", i)));
    ASSERT_THAT(core_.CloseSession(id), IsOk());
  }
  EXPECT_EQ(core_.Counts().peers, 100) << "closed peers are kept while their bucket refills";
  ASSERT_THAT(core_.CheckInvariants(), IsOk());
  clock_.Advance(absl::Milliseconds(500));  // one token back: full again
  ASSERT_OK_AND_ASSIGN(SessionId id, OpenFrom("10.2.0.1"));
  EXPECT_EQ(core_.Counts().peers, 1);
  ASSERT_THAT(core_.CloseSession(id), IsOk());
  EXPECT_EQ(core_.Counts().peers, 1) << "it spent a token: kept for 500 ms";
}

TEST(PeerLimitsOffTest, ZeroTurnsPerPeerLimitsOffAndTracksNoPeer) {
  FakeClock clock;
  CounterTokenSource tokens;
  Core core(&clock, &tokens, Unlimited());
  for (int i = 0; i < 1000; ++i) {
    ASSERT_THAT(core.CreateSession("c", absl::ZeroDuration(), "one peer").status(), IsOk());
  }
  EXPECT_EQ(core.Counts().peers, 0);
  EXPECT_THAT(core.CheckInvariants(), IsOk());
}

class ListedHoldersTest : public CoreTestBase {
 protected:
  static CoreOptions Listing3() {
    CoreOptions o = Unlimited();
    o.max_listed_holders = 3;
    return o;
  }
  ListedHoldersTest() : CoreTestBase(Listing3()) {}
};

// Test and a refused try list the oldest max_listed_holders holders and count them all,
// at a cost bounded by the listing, not by the holders; admin listings show everyone.
TEST_F(ListedHoldersTest, AnswersListTheOldestHoldersAndCountAllAdminListsAll) {
  constexpr int kHolders = 50;
  std::vector<SessionId> holders;
  for (int i = 0; i < kHolders; ++i) {
    holders.push_back(Open(absl::StrCat("c", i)));
    ASSERT_THAT(SetNow(holders.back(), Args("pool", absl::InfinitePast(), 1, 1000)), IsOk());
  }
  const uint64_t before = core_.WorkDone();
  const SemaphoreSnapshot test = core_.Test("pool");
  EXPECT_LE(core_.WorkDone() - before, 3u);
  EXPECT_EQ(test.holder_count, kHolders);
  ASSERT_EQ(test.holders.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(test.holders[i].session_id, holders[i]);

  SessionId late = Open("late");
  absl::StatusOr<SetOutcome> refused =
      SetNow(late, Args("pool", absl::InfinitePast(), /*permits=*/1000, 1000));
  ASSERT_THAT(refused, IsOk());
  EXPECT_FALSE(refused->acquired);
  EXPECT_EQ(refused->state.holder_count, kHolders);
  EXPECT_EQ(refused->state.holders.size(), 3u);

  const std::vector<SemaphoreSnapshot> listed = core_.ListSemaphores("pool", "", 10);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].holder_count, kHolders);
  EXPECT_EQ(listed[0].holders.size(), static_cast<size_t>(kHolders));
}

TEST(FencingExhaustionTest, GrantsAreRefusedInsteadOfWrappingAndNothingIsLeftBehind) {
  FakeClock clock;
  CounterTokenSource tokens(kMaxFencingToken - 1);
  Core core(&clock, &tokens, Unlimited());
  ASSERT_OK_AND_ASSIGN(NewSession a, core.CreateSession("a", absl::ZeroDuration()));
  ASSERT_OK_AND_ASSIGN(NewSession b, core.CreateSession("b", absl::ZeroDuration()));
  SetArgs x;
  x.name = "x";
  SetAnswer first;
  core.Set(a.id, x, first.Callback());
  ASSERT_TRUE(first.done());
  ASSERT_THAT(first.value->status(), IsOk());
  EXPECT_EQ((*first.value)->grant.fencing_token, kMaxFencingToken);
  // A queued request is answered with the error when its turn comes.
  SetArgs wait = x;
  wait.wait = {absl::InfiniteDuration(), absl::InfiniteFuture()};
  SetAnswer queued;
  ASSERT_NE(core.Set(b.id, wait, queued.Callback()), 0u);
  ASSERT_THAT(core.Clear(a.id, "x"), IsOk());
  ASSERT_TRUE(queued.done());
  EXPECT_THAT(*queued.value, StatusIs(kExhausted, HasSubstr("fencing tokens are exhausted")));
  // An immediate one too, leaving no semaphore behind.
  SetArgs y;
  y.name = "y";
  SetAnswer refused;
  core.Set(a.id, y, refused.Callback());
  ASSERT_TRUE(refused.done());
  EXPECT_THAT(*refused.value, StatusIs(kExhausted, HasSubstr("fencing tokens are exhausted")));
  EXPECT_EQ(core.Counts().semaphores, 0);
  EXPECT_EQ(core.Counts().held_semaphores, 0);
  EXPECT_THAT(core.CheckInvariants(), IsOk());
}

}  // namespace
}  // namespace semaphored::internal
