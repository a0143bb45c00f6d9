// Sessions (TTL, expiry, close, unknown ids), administration, drain and limits.

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/status_matchers.h"
#include "tests/engine/core_test_util.h"

namespace semaphored::internal {

using engine::Core;
using engine::CoreOptions;
using engine::NewSession;
using engine::SemaphoreSnapshot;
using engine::SessionSnapshot;

namespace {

using ::semaphored::testing::IsOk;
using ::semaphored::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

class SessionTest : public CoreTestBase {};

TEST_F(SessionTest, SecretIs128BitsOfHexAndIdsDiffer) {
  ASSERT_OK_AND_ASSIGN(NewSession a, core_.CreateSession("a", absl::ZeroDuration()));
  ASSERT_OK_AND_ASSIGN(NewSession b, core_.CreateSession("b", absl::ZeroDuration()));
  EXPECT_THAT(a.secret, MatchesRegex("[0-9a-f]{32}"));
  EXPECT_NE(a.secret, b.secret);
  EXPECT_NE(a.id, b.id);
  EXPECT_EQ(a.ttl, absl::Seconds(10)) << "zero asks for the default";
  ASSERT_OK_AND_ASSIGN(SessionId id, core_.Authenticate(a.secret));
  EXPECT_EQ(id, a.id);
  EXPECT_EQ(ParseSessionId(FormatSessionId(a.id)), a.id);
}

TEST_F(SessionTest, TtlOutsideTheRangeIsRejected) {
  EXPECT_THAT(core_.CreateSession("a", absl::Milliseconds(10)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("outside")));
  EXPECT_THAT(core_.CreateSession("a", absl::Hours(2)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("outside")));
  EXPECT_THAT(core_.CreateSession("a", absl::Seconds(-1)),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(SessionTest, UnknownSecretIsUnauthenticated) {
  EXPECT_THAT(core_.Authenticate("00000000000000000000000000000000"),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("unknown session")));
  EXPECT_THAT(core_.Refresh(12345), StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST_F(SessionTest, ExpiryReleasesEverythingAndGrantsTheNextWaiterAtOnce) {
  ASSERT_OK_AND_ASSIGN(NewSession holder, core_.CreateSession("h", absl::Seconds(2)));
  auto observer = std::make_shared<RecordingObserver>();
  ASSERT_THAT(core_.SetObserver(holder.id, observer), IsOk());
  ASSERT_THAT(SetNow(holder.id, Args("x")), IsOk());
  SetAnswer next;
  SetWait(Open("w", absl::Minutes(1)), "x", next);

  Advance(absl::Seconds(1));
  ASSERT_THAT(core_.Refresh(holder.id), IsOk());
  Advance(absl::Milliseconds(1999));
  EXPECT_FALSE(next.done()) << "the keepalive extended the lease";
  Advance(absl::Milliseconds(1));
  ASSERT_TRUE(next.done());
  EXPECT_TRUE(next.value->value().acquired);
  ASSERT_EQ(observer->ended.size(), 1u);
  EXPECT_THAT(observer->ended[0], StatusIs(absl::StatusCode::kUnauthenticated,
                                           HasSubstr("expired")));
  // Later calls on the expired session fail clearly, by id and by secret.
  EXPECT_THAT(core_.Clear(holder.id, "x"),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("expired")));
  EXPECT_THAT(core_.Authenticate(holder.secret),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("TTL of 2s")));
}

TEST_F(SessionTest, CloseReleasesAndRemovesWaitersAndLaterCallsFail) {
  SessionId a = Open();
  SessionId b = Open();
  ASSERT_THAT(SetNow(a, Args("x")), IsOk());
  ASSERT_THAT(SetNow(a, Args("y")), IsOk());
  SetAnswer b_waits, a_waits;
  SetWait(b, "x", b_waits);
  ASSERT_THAT(SetNow(b, Args("z")), IsOk());
  SetWait(a, "z", a_waits);
  ASSERT_OK_AND_ASSIGN(int32_t released, core_.CloseSession(a));
  EXPECT_EQ(released, 2);
  ASSERT_TRUE(b_waits.done());
  EXPECT_TRUE(b_waits.value->value().acquired);
  ASSERT_TRUE(a_waits.done());
  EXPECT_THAT(*a_waits.value, StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("closed")));
  EXPECT_EQ(core_.Test("z").waiter_count, 0);
  EXPECT_THAT(SetNow(a, Args("q")), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(core_.Counts().sessions, 1);
}

TEST_F(SessionTest, EndedSessionsAreRememberedOnlyUpToTheBound) {
  CoreOptions options;
  options.ended_sessions_remembered = 2;
  Core core(&clock_, &tokens_, options);
  std::vector<NewSession> ended;
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(NewSession s, core.CreateSession("c", absl::ZeroDuration()));
    ASSERT_THAT(core.CloseSession(s.id), IsOk());
    ended.push_back(s);
  }
  EXPECT_THAT(core.Authenticate(ended[0].secret), StatusIs(absl::StatusCode::kUnauthenticated,
                                                           HasSubstr("unknown")));
  EXPECT_THAT(core.Authenticate(ended[2].secret), StatusIs(absl::StatusCode::kUnauthenticated,
                                                           HasSubstr("closed")));
}

TEST_F(SessionTest, InProcessSessionsNeverExpireAndOnePeerIsNotLimited) {
  const CoreOptions options = CoreOptions::InProcess();
  const CoreOptions server;
  ASSERT_GT(options.max_sessions, server.max_sessions_per_peer + server.session_burst_per_peer);
  Core core(&clock_, &tokens_, options);
  ASSERT_OK_AND_ASSIGN(NewSession first, core.CreateSession("c", absl::Seconds(1), "peer"));
  // Beyond the server's per-peer session count and creation burst, at one instant.
  for (int64_t i = 0; i < server.max_sessions_per_peer + server.session_burst_per_peer; ++i) {
    ASSERT_THAT(core.CreateSession("c", absl::Seconds(1), "peer").status(), IsOk()) << i;
  }
  clock_.Advance(absl::Hours(2));
  core.Tick();
  EXPECT_EQ(core.NextDeadline(), absl::InfiniteFuture());
  EXPECT_THAT(core.Authenticate(first.secret), IsOk());
  EXPECT_THAT(core.Refresh(first.id), IsOk());
  EXPECT_EQ(core.Counts().sessions, server.max_sessions_per_peer +
                                        server.session_burst_per_peer + 1);
}

class AdminTest : public CoreTestBase {};

TEST_F(AdminTest, ListSemaphoresFiltersByPrefixAndPages) {
  SessionId a = Open();
  for (const char* n : {"app/a", "app/b", "app/c", "apq", "zz"}) {
    ASSERT_THAT(SetNow(a, Args(n)), IsOk());
  }
  SetAnswer waiting;
  SetWait(Open("w"), "app/b", waiting);
  auto names = [](const std::vector<SemaphoreSnapshot>& v) {
    std::vector<std::string> out;
    for (const auto& s : v) out.push_back(s.name);
    return out;
  };
  auto page1 = core_.ListSemaphores("app/", "", 2);
  EXPECT_THAT(names(page1), ElementsAre("app/a", "app/b"));
  ASSERT_EQ(page1[1].waiters.size(), 1u);
  EXPECT_EQ(page1[1].waiters[0].client_name, "w");
  EXPECT_THAT(names(core_.ListSemaphores("app/", "app/b", 2)), ElementsAre("app/c"));
  EXPECT_THAT(names(core_.ListSemaphores("", "apq", 10)), ElementsAre("zz"));
}

TEST_F(AdminTest, ForceClearTellsTheHolderAndGrantsTheNextWaiter) {
  SessionId a = Open("alice");
  auto observer = std::make_shared<RecordingObserver>();
  ASSERT_THAT(core_.SetObserver(a, observer), IsOk());
  ASSERT_THAT(SetNow(a, Args("x")), IsOk());
  SetAnswer next;
  SetWait(Open(), "x", next);
  ASSERT_OK_AND_ASSIGN(auto revoked, core_.ForceClear("x", "stuck job"));
  ASSERT_EQ(revoked.size(), 1u);
  EXPECT_EQ(revoked[0].client_name, "alice");
  EXPECT_THAT(observer->revoked, ElementsAre(HasSubstr("stuck job")));
  EXPECT_TRUE(next.done());
  EXPECT_THAT(core_.Clear(a, "x"), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(core_.ForceClear("nothing", "r"), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(AdminTest, EndSessionByIdTellsTheHolder) {
  SessionId a = Open();
  auto observer = std::make_shared<RecordingObserver>();
  ASSERT_THAT(core_.SetObserver(a, observer), IsOk());
  ASSERT_OK_AND_ASSIGN(SessionSnapshot snap, core_.GetSession(a));
  EXPECT_EQ(snap.id, a);
  ASSERT_THAT(core_.EndSession(a, "maintenance"), IsOk());
  ASSERT_EQ(observer->ended.size(), 1u);
  EXPECT_THAT(observer->ended[0], StatusIs(absl::StatusCode::kUnauthenticated,
                                           HasSubstr("maintenance")));
  EXPECT_THAT(core_.GetSession(a), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(AdminTest, DrainWakesWaitersTellsHoldersAndRefusesNewWork) {
  SessionId a = Open();
  auto observer = std::make_shared<RecordingObserver>();
  ASSERT_THAT(core_.SetObserver(a, observer), IsOk());
  ASSERT_THAT(SetNow(a, Args("x")), IsOk());
  SetAnswer waiting;
  SetWait(Open(), "x", waiting);
  Core::DrainResult result = core_.Drain();
  EXPECT_EQ(result.woken_waiters, 1);
  EXPECT_EQ(result.ended_sessions, 2);
  ASSERT_TRUE(waiting.done());
  EXPECT_THAT(*waiting.value, StatusIs(absl::StatusCode::kUnavailable,
                                       HasSubstr("server is shutting down")));
  ASSERT_EQ(observer->ended.size(), 1u);
  EXPECT_THAT(observer->ended[0], StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(core_.CreateSession("late", absl::ZeroDuration()),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("shutting down")));
  EXPECT_TRUE(core_.draining());
  EXPECT_EQ(core_.Counts().semaphores, 0);
}

class LimitsTest : public CoreTestBase {
 protected:
  static CoreOptions Small() {
    CoreOptions o;
    o.max_sessions = 3;
    o.max_held_per_session = 2;
    o.max_waiters_per_semaphore = 1;
    return o;
  }
  LimitsTest() : CoreTestBase(Small()) {}
};

TEST_F(LimitsTest, EachLimitAnswersResourceExhaustedNamingIt) {
  SessionId a = Open();
  SessionId b = Open();
  SessionId c = Open();
  EXPECT_THAT(core_.CreateSession("d", absl::ZeroDuration()),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("max_sessions")));
  ASSERT_THAT(SetNow(a, Args("x")), IsOk());
  ASSERT_THAT(SetNow(a, Args("y")), IsOk());
  EXPECT_THAT(SetNow(a, Args("z")), StatusIs(absl::StatusCode::kResourceExhausted,
                                             HasSubstr("max_held_per_session")));
  SetAnswer one;
  SetWait(b, "x", one);
  SetAnswer two;
  EXPECT_EQ(core_.Set(c, Args("x", absl::InfiniteFuture()), two.Callback()), 0u);
  ASSERT_TRUE(two.done());
  EXPECT_THAT(*two.value, StatusIs(absl::StatusCode::kResourceExhausted,
                                   HasSubstr("max_waiters_per_semaphore")));
  EXPECT_EQ(core_.Counts().semaphores, 2);
}

TEST_F(LimitsTest, AQueuedRequestOverTheHeldLimitFailsWhenItsTurnComes) {
  SessionId a = Open();
  SessionId b = Open();
  ASSERT_THAT(SetNow(a, Args("x")), IsOk());
  SetAnswer answer;
  SetWait(b, "x", answer);
  ASSERT_THAT(SetNow(b, Args("p")), IsOk());
  ASSERT_THAT(SetNow(b, Args("q")), IsOk());
  ASSERT_THAT(core_.Clear(a, "x"), IsOk());
  ASSERT_TRUE(answer.done());
  EXPECT_THAT(*answer.value, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(core_.Test("x").limit, 0);
}

}  // namespace
}  // namespace semaphored::internal
