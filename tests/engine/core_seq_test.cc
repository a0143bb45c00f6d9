// At most once (Core's "At most once"): a re-sent sequenced command is answered with
// its first answer and applies nothing; a queued one keeps the outcome that decided
// it; acknowledgements and the per-session bound drop outcomes; seq 0 is unchanged;
// outcomes are recorded in the batch of the effects that decided them. Commits are
// driven by hand (Core::CommitBatch) on a FakeClock: every test is deterministic.

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "engine/core.h"
#include "engine/counter_token_source.h"
#include "tests/common/status_matchers.h"
#include "tests/engine/core_test_util.h"
#include "tests/engine/fake_store.h"

namespace semaphored::internal {
namespace {

using engine::Core;
using engine::CoreOptions;
using engine::CounterTokenSource;
using engine::EffectBatch;
using engine::SetArgs;
using engine::SetOutcome;
using engine::WaitClearArgs;
using engine::WaitClearOutcome;
using engine::WaiterId;
using ::semaphored::testing::IsOk;
using ::semaphored::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

SetArgs Set(std::string name, uint64_t seq, absl::Duration timeout = absl::ZeroDuration(),
            std::optional<int32_t> limit = std::nullopt, int32_t permits = 1) {
  SetArgs a;
  a.name = std::move(name);
  a.seq = seq;
  a.wait.timeout = timeout;
  a.limit = limit;
  a.permits = permits;
  return a;
}

WaitClearArgs WaitClear(std::string name, uint64_t seq,
                        absl::Duration timeout = absl::ZeroDuration()) {
  WaitClearArgs a;
  a.name = std::move(name);
  a.seq = seq;
  a.wait.timeout = timeout;
  return a;
}

class CoreSeqTest : public ::testing::Test {
 protected:
  explicit CoreSeqTest(int64_t max_outcomes = 1024) : core_(&clock_, &tokens_, Options(max_outcomes)) {}

  CoreOptions Options(int64_t max_outcomes) {
    CoreOptions o;
    o.store = &store_;
    o.max_unacked_outcomes_per_session = max_outcomes;
    return o;
  }

  void TearDown() override { EXPECT_THAT(core_.CheckInvariants(), IsOk()); }

  SessionId Open(const std::string& name) {
    absl::StatusOr<engine::NewSession> s = core_.CreateSession(name, absl::Seconds(10));
    EXPECT_THAT(s, IsOk());
    if (!s.ok()) return 0;
    text_.Name(s->id, name);
    Commit();
    return s->id;
  }

  // Commits the open batch; its effects as text (none when nothing was committed).
  std::vector<std::string> Commit() {
    const size_t before = store_.batches().size();
    if (!core_.CommitBatch()) return {};
    const std::vector<EffectBatch> batches = store_.batches();
    EXPECT_EQ(batches.size(), before + 1);
    return text_(batches.back());
  }

  // Runs a set that is answered at once (after its commit); returns its answer.
  absl::StatusOr<SetOutcome> SetNow(SessionId s, SetArgs args) {
    SetAnswer answer;
    EXPECT_EQ(core_.Set(s, std::move(args), answer.Callback()), 0u) << "queued unexpectedly";
    Commit();
    EXPECT_TRUE(answer.done());
    return answer.done() ? *answer.value : absl::InternalError("no answer");
  }
  absl::StatusOr<WaitClearOutcome> WaitClearNow(SessionId s, WaitClearArgs args) {
    ClearAnswer answer;
    EXPECT_EQ(core_.WaitClear(s, std::move(args), answer.Callback()), 0u)
        << "queued unexpectedly";
    Commit();
    EXPECT_TRUE(answer.done());
    return answer.done() ? *answer.value : absl::InternalError("no answer");
  }
  uint64_t TokenOf(const absl::StatusOr<SetOutcome>& answer) {
    EXPECT_THAT(answer, IsOk());
    return answer.ok() ? answer->grant.fencing_token : 0;
  }

  FakeClock clock_;
  CounterTokenSource tokens_;
  FakeStore store_;
  EffectText text_;
  Core core_;
};

TEST_F(CoreSeqTest, RepeatedSetIsAnsweredWithItsFirstAnswerAndGrantsNothing) {
  const SessionId a = Open("A");
  const SessionId b = Open("B");
  const absl::StatusOr<SetOutcome> first = SetNow(a, Set("x", 1, absl::ZeroDuration(), 2));
  ASSERT_TRUE(first->acquired);
  ASSERT_THAT(core_.Clear(a, "x", 2), IsOk());
  Commit();
  ASSERT_TRUE(SetNow(b, Set("x", 1))->acquired);  // B's own seq 1

  const absl::StatusOr<SetOutcome> again = SetNow(a, Set("x", 1, absl::ZeroDuration(), 2));
  ASSERT_THAT(again, IsOk());
  EXPECT_TRUE(again->acquired);
  EXPECT_FALSE(again->already_held);
  EXPECT_EQ(again->grant.fencing_token, first->grant.fencing_token);
  EXPECT_EQ(again->grant.permits, first->grant.permits);
  EXPECT_EQ(again->grant.grant_time, first->grant.grant_time);
  EXPECT_THAT(Commit(), IsEmpty()) << "a re-send applies nothing";
  const engine::SemaphoreSnapshot x = core_.Test("x");
  EXPECT_EQ(x.permits_held, 1) << "only B's permit: A's re-send granted none";
  ASSERT_EQ(x.holders.size(), 1u);
  EXPECT_EQ(x.holders[0].session_id, b);
  // The next grant takes the next token: the re-send took none.
  EXPECT_EQ(TokenOf(SetNow(a, Set("y", 3))), 3u);
}

TEST_F(CoreSeqTest, RepeatedClearDoesNotReleaseWhatALaterSetGranted) {
  const SessionId a = Open("A");
  ASSERT_TRUE(SetNow(a, Set("x", 1))->acquired);
  ASSERT_THAT(core_.Clear(a, "x", 2), IsOk());
  Commit();
  const uint64_t later = TokenOf(SetNow(a, Set("x", 3)));

  const absl::StatusOr<int32_t> resent = core_.Clear(a, "x", 2);
  ASSERT_THAT(resent, IsOk());
  EXPECT_EQ(*resent, 1) << "its first answer";
  EXPECT_THAT(Commit(), IsEmpty());
  const engine::SemaphoreSnapshot x = core_.Test("x");
  ASSERT_EQ(x.holders.size(), 1u);
  EXPECT_EQ(x.holders[0].grant.fencing_token, later) << "still held by the later grant";

  // A clear that failed is answered with its error again, even once it would succeed.
  const SessionId b = Open("B");
  EXPECT_THAT(core_.Clear(b, "z", 1), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_TRUE(SetNow(b, Set("z", 2))->acquired);
  EXPECT_THAT(core_.Clear(b, "z", 1), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_TRUE(core_.Test("z").set());
}

TEST_F(CoreSeqTest, RepeatedWaitClearIsAnsweredWithItsFirstAnswerAndTheStateNow) {
  const SessionId a = Open("A");
  const SessionId b = Open("B");
  ASSERT_TRUE(SetNow(a, Set("x", 1))->acquired);
  const absl::StatusOr<WaitClearOutcome> first = WaitClearNow(b, WaitClear("x", 1));
  ASSERT_THAT(first, IsOk());
  EXPECT_FALSE(first->clear);
  EXPECT_TRUE(first->state.set());
  ASSERT_THAT(core_.Clear(a, "x", 2), IsOk());
  Commit();

  const absl::StatusOr<WaitClearOutcome> again = WaitClearNow(b, WaitClear("x", 1));
  ASSERT_THAT(again, IsOk());
  EXPECT_FALSE(again->clear) << "the first answer";
  EXPECT_FALSE(again->state.set()) << "with the semaphore as it is now";
  EXPECT_EQ(again->state.name, "x");

  // A repeated "not acquired" likewise shows who holds it now.
  ASSERT_TRUE(SetNow(a, Set("y", 3))->acquired);
  ASSERT_FALSE(SetNow(b, Set("y", 2))->acquired);
  ASSERT_THAT(core_.Clear(a, "y", 4), IsOk());
  Commit();
  const absl::StatusOr<SetOutcome> not_acquired = SetNow(b, Set("y", 2));
  ASSERT_THAT(not_acquired, IsOk());
  EXPECT_FALSE(not_acquired->acquired);
  EXPECT_FALSE(not_acquired->state.set());
  EXPECT_FALSE(core_.Test("y").set()) << "the re-sent try did not set it";
}

TEST_F(CoreSeqTest, QueuedSetKeepsTheOutcomeThatDecidedIt) {
  const SessionId a = Open("A");
  const SessionId b = Open("B");
  ASSERT_TRUE(SetNow(a, Set("granted", 1))->acquired);
  ASSERT_TRUE(SetNow(a, Set("timeout", 2))->acquired);
  ASSERT_TRUE(SetNow(a, Set("cancel", 3))->acquired);

  SetAnswer granted, timed_out, cancelled;
  ClearAnswer cleared;
  ASSERT_NE(core_.Set(b, Set("granted", 1, absl::InfiniteDuration()), granted.Callback()), 0u);
  ASSERT_NE(core_.Set(b, Set("timeout", 2, absl::Seconds(5)), timed_out.Callback()), 0u);
  const WaiterId to_cancel =
      core_.Set(b, Set("cancel", 3, absl::InfiniteDuration()), cancelled.Callback());
  ASSERT_NE(to_cancel, 0u);
  ASSERT_NE(core_.WaitClear(b, WaitClear("granted", 4, absl::InfiniteDuration()),
                            cleared.Callback()),
            0u);
  Commit();

  ASSERT_THAT(core_.Clear(a, "granted", 4), IsOk());  // hands on to B
  clock_.Advance(absl::Seconds(6));
  core_.Tick();
  core_.Cancel(to_cancel);
  Commit();
  ASSERT_TRUE(granted.done() && timed_out.done() && cancelled.done());
  const uint64_t token = TokenOf(*granted.value);
  EXPECT_FALSE(timed_out.value->value().acquired);
  EXPECT_THAT(*cancelled.value, StatusIs(absl::StatusCode::kCancelled));
  EXPECT_FALSE(cleared.done()) << "B now holds it";

  // Each re-send gets that answer at once and queues nothing.
  EXPECT_EQ(TokenOf(SetNow(b, Set("granted", 1, absl::InfiniteDuration()))), token);
  EXPECT_FALSE(SetNow(b, Set("timeout", 2, absl::Seconds(5)))->acquired);
  EXPECT_THAT(SetNow(b, Set("cancel", 3, absl::InfiniteDuration())),
              StatusIs(absl::StatusCode::kCancelled, HasSubstr("cancel")));
  EXPECT_EQ(core_.Counts().waiters, 1) << "only the wait-for-clear";

  // The wait-for-clear, answered by B's own clear, keeps "clear".
  ASSERT_THAT(core_.Clear(b, "granted", 5), IsOk());
  Commit();
  ASSERT_TRUE(cleared.done());
  EXPECT_TRUE(cleared.value->value().clear);
  EXPECT_TRUE(WaitClearNow(b, WaitClear("granted", 4, absl::InfiniteDuration()))->clear);
}

TEST_F(CoreSeqTest, ResendingACommandThatStillWaitsIsFailedPrecondition) {
  const SessionId a = Open("A");
  const SessionId b = Open("B");
  ASSERT_TRUE(SetNow(a, Set("x", 1))->acquired);
  SetAnswer first;
  const WaiterId w = core_.Set(b, Set("x", 7, absl::InfiniteDuration()), first.Callback());
  ASSERT_NE(w, 0u);
  Commit();
  EXPECT_THAT(SetNow(b, Set("x", 7, absl::InfiniteDuration())),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr(absl::StrCat("command 7 of session "))));
  EXPECT_THAT(SetNow(b, Set("x", 7, absl::InfiniteDuration())),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("is still pending")));
  EXPECT_THAT(WaitClearNow(b, WaitClear("x", 7, absl::InfiniteDuration())),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not a wait-for-clear")));
  EXPECT_THAT(core_.Clear(b, "x", 7), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(core_.Counts().waiters, 1);
  EXPECT_FALSE(first.done()) << "the first copy still waits";
  // A seq below last_seq that never reached the engine (lost before it) is refused too.
  EXPECT_THAT(SetNow(b, Set("y", 3)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("already answered and acknowledged")));
}

TEST_F(CoreSeqTest, AcknowledgeDropsOutcomesAndRecordsIt) {
  const SessionId a = Open("A");
  ASSERT_TRUE(SetNow(a, Set("x", 1))->acquired);
  ASSERT_TRUE(SetNow(a, Set("y", 2))->acquired);
  ASSERT_TRUE(SetNow(a, Set("z", 3))->acquired);
  const uint64_t acked[] = {1, 3, 99, 3};  // unknown and repeated seqs are ignored
  core_.Acknowledge(a, acked);
  EXPECT_THAT(Commit(), ElementsAre("CommandsAcked A 1,3"));
  core_.Acknowledge(a, acked);
  core_.Acknowledge(12345, acked);  // an unknown session
  EXPECT_THAT(Commit(), IsEmpty());

  EXPECT_THAT(SetNow(a, Set("x", 1)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("was already answered and acknowledged (or is older than "
                                 "the last 1024 kept)")));
  EXPECT_TRUE(SetNow(a, Set("y", 2))->acquired) << "not acknowledged: still kept";
  EXPECT_EQ(core_.StateForStore().outcomes.size(), 1u);
}

class CoreSeqBoundTest : public CoreSeqTest {
 protected:
  CoreSeqBoundTest() : CoreSeqTest(/*max_outcomes=*/3) {}
};

TEST_F(CoreSeqBoundTest, OldestOutcomesGoPastTheBound) {
  const SessionId a = Open("A");
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    ASSERT_TRUE(SetNow(a, Set(absl::StrCat("s", seq), seq))->acquired);
  }
  SetAnswer fourth;
  core_.Set(a, Set("s4", 4), fourth.Callback());
  EXPECT_THAT(Commit(), ElementsAre("SemaphoreCreated s4 limit=1", "HolderAdded s4 A permits=1 token=4",
                                    "CommandOutcome A #4 set acquired token=4",
                                    "CommandsAcked A 1", "TokenHighWater 4"));
  EXPECT_THAT(SetNow(a, Set("s1", 1)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("the last 3 kept")));
  for (uint64_t seq = 2; seq <= 4; ++seq) {
    SCOPED_TRACE(seq);
    EXPECT_EQ(TokenOf(SetNow(a, Set(absl::StrCat("s", seq), seq))), seq);
  }
  EXPECT_EQ(core_.StateForStore().outcomes.size(), 3u);
}

TEST_F(CoreSeqTest, SeqZeroKeepsNothingAndBehavesAsBefore) {
  const SessionId a = Open("A");
  SetAnswer first;
  core_.Set(a, Set("x", 0), first.Callback());
  EXPECT_THAT(Commit(), ElementsAre("SemaphoreCreated x limit=1", "HolderAdded x A permits=1 token=1",
                                    "TokenHighWater 1"));
  EXPECT_TRUE(SetNow(a, Set("x", 0))->already_held) << "a repeat is a new request";
  EXPECT_EQ(core_.Clear(a, "x").value_or(-1), 1);
  EXPECT_THAT(core_.Clear(a, "x"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_FALSE(WaitClearNow(a, WaitClear("x", 0)).value().state.set());
  // Bad arguments are answered as before, before the session is looked at.
  EXPECT_THAT(SetNow(777, Set("x", 0, absl::ZeroDuration(), std::nullopt, 0)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  const engine::StoredState state = core_.StateForStore();
  EXPECT_TRUE(state.outcomes.empty());
  ASSERT_EQ(state.sessions.size(), 1u);
  EXPECT_EQ(state.sessions[0].last_seq, 0u);
}

TEST_F(CoreSeqTest, ArgumentErrorsAreOutcomesToo) {
  const SessionId a = Open("A");
  SetAnswer bad;
  core_.Set(a, Set("x", 1, absl::ZeroDuration(), std::nullopt, /*permits=*/0), bad.Callback());
  EXPECT_THAT(Commit(), ElementsAre("CommandOutcome A #1 set error=INVALID_ARGUMENT"));
  ASSERT_TRUE(bad.done());
  EXPECT_THAT(*bad.value, StatusIs(absl::StatusCode::kInvalidArgument));
  // Even a (buggy) re-send with good arguments gets the first answer and sets nothing.
  EXPECT_THAT(SetNow(a, Set("x", 1)), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_FALSE(core_.Test("x").set());
  WaitClearArgs bad_wait = WaitClear("x", 2, -absl::Seconds(1));
  EXPECT_THAT(WaitClearNow(a, bad_wait), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(WaitClearNow(a, WaitClear("x", 2)), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(CoreSeqTest, OutcomesAreRecordedInTheBatchOfWhatDecidedThem) {
  const SessionId a = Open("A");
  const SessionId b = Open("B");
  SetAnswer a_set;
  core_.Set(a, Set("x", 1), a_set.Callback());
  EXPECT_THAT(Commit(), ElementsAre("SemaphoreCreated x limit=1", "HolderAdded x A permits=1 token=1",
                                    "CommandOutcome A #1 set acquired token=1",
                                    "TokenHighWater 1"));
  SetAnswer b_set;
  const WaiterId w = core_.Set(b, Set("x", 1, absl::InfiniteDuration()), b_set.Callback());
  EXPECT_THAT(Commit(), ElementsAre(absl::StrCat("WaiterQueued ", w, " x B set permits=1 #1")))
      << "queued: its outcome comes when it is decided";
  ASSERT_THAT(core_.Clear(a, "x", 2), IsOk());
  EXPECT_FALSE(b_set.done()) << "not before its batch commits";
  EXPECT_THAT(Commit(), ElementsAre("HolderRemoved x A", absl::StrCat("WaiterRemoved ", w),
                                    "HolderAdded x B permits=1 token=2",
                                    "CommandOutcome B #1 set acquired token=2",
                                    "CommandOutcome A #2 clear released=1", "TokenHighWater 2"));
  EXPECT_TRUE(b_set.done());
  ClearAnswer b_wait;
  core_.WaitClear(b, WaitClear("x", 2), b_wait.Callback());
  EXPECT_THAT(Commit(), ElementsAre("CommandOutcome B #2 wait-clear not-clear"));
  // The session's end takes its outcomes with it: no acknowledgement is recorded.
  ASSERT_THAT(core_.CloseSession(b), IsOk());
  EXPECT_THAT(Commit(), ElementsAre("HolderRemoved x B", "SemaphoreErased x", "SessionEnded B"));
  SetAnswer after_end;
  core_.Set(b, Set("x", 1), after_end.Callback());
  Commit();
  ASSERT_TRUE(after_end.done());
  EXPECT_THAT(*after_end.value, StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(core_.StateForStore().outcomes.size(), 2u) << "A's set and clear only";
}

TEST_F(CoreSeqTest, WaitersAnsweredByTheirSessionsEndKeepNothing) {
  const SessionId a = Open("A");
  const SessionId b = Open("B");
  ASSERT_TRUE(SetNow(a, Set("x", 1))->acquired);
  SetAnswer waiting;
  core_.Set(b, Set("x", 1, absl::InfiniteDuration()), waiting.Callback());
  Commit();
  ASSERT_THAT(core_.CloseSession(b), IsOk());
  const std::vector<std::string> effects = Commit();
  for (const std::string& e : effects) EXPECT_THAT(e, ::testing::Not(HasSubstr("Command")));
  EXPECT_THAT(*waiting.value, StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST(CoreSeqDrainTest, NothingIsKeptWhileDraining) {
  FakeClock clock;
  CounterTokenSource tokens;
  Core core(&clock, &tokens);
  ASSERT_OK_AND_ASSIGN(engine::NewSession a, core.CreateSession("A", absl::Seconds(10)));
  ASSERT_OK_AND_ASSIGN(engine::NewSession b, core.CreateSession("B", absl::Seconds(10)));
  SetAnswer held;
  core.Set(a.id, Set("x", 1), held.Callback());
  SetAnswer waiting;
  core.Set(b.id, Set("x", 1, absl::InfiniteDuration()), waiting.Callback());
  core.Drain();
  EXPECT_THAT(*waiting.value, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_TRUE(core.StateForStore().outcomes.empty());
}

}  // namespace
}  // namespace semaphored::internal
