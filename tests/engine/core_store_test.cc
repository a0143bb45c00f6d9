// The engine with a store: each operation's effects, in the engine's order and in one
// batch with what it caused; no answer given before its batch commits; reads wait for
// what they show; group commit; a failed commit stops the answers. Commits are driven
// by hand (Core::CommitBatch), so every test is deterministic.

#include <atomic>
#include <string>
#include <thread>
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
using engine::NewSession;
using engine::SetArgs;
using engine::SetOutcome;
using engine::WaitClearArgs;
using engine::WaiterId;
using ::semaphored::testing::IsOk;
using ::semaphored::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Not;

CoreOptions WithStore(FakeStore* store) {
  CoreOptions o;
  o.store = store;
  return o;
}

class CoreStoreTest : public ::testing::Test {
 protected:
  CoreStoreTest() : core_(&clock_, &tokens_, WithStore(&store_)) {}

  void TearDown() override { EXPECT_THAT(core_.CheckInvariants(), IsOk()); }

  SessionId Open(const std::string& name, absl::Duration ttl = absl::Seconds(10)) {
    absl::StatusOr<NewSession> s = core_.CreateSession(name, ttl);
    EXPECT_THAT(s, IsOk());
    if (!s.ok()) return 0;
    text_.Name(s->id, name);
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

  static SetArgs Try(std::string name) {
    SetArgs a;
    a.name = std::move(name);
    return a;
  }
  static SetArgs Wait(std::string name, absl::Duration timeout = absl::InfiniteDuration()) {
    SetArgs a;
    a.name = std::move(name);
    a.wait.timeout = timeout;
    return a;
  }
  static WaitClearArgs WaitClear(std::string name) {
    WaitClearArgs a;
    a.name = std::move(name);
    a.wait.timeout = absl::InfiniteDuration();
    return a;
  }

  FakeClock clock_;
  CounterTokenSource tokens_;
  FakeStore store_;
  EffectText text_;
  Core core_;
};

TEST_F(CoreStoreTest, EachOperationRecordsItsEffectsInOrder) {
  const SessionId a = Open("A");
  const SessionId b = Open("B");
  EXPECT_THAT(Commit(), ElementsAre("SessionOpened A client=A ttl=10s",
                                    "SessionOpened B client=B ttl=10s"));

  SetAnswer acquired;
  core_.Set(a, Try("x"), acquired.Callback());
  EXPECT_THAT(Commit(), ElementsAre("SemaphoreCreated x limit=1",
                                    "HolderAdded x A permits=1 token=1", "TokenHighWater 1"));
  ASSERT_TRUE(acquired.done());
  EXPECT_TRUE(acquired.value->value().acquired);

  SetAnswer again;
  core_.Set(a, Try("x"), again.Callback());
  EXPECT_THAT(Commit(), IsEmpty()) << "already held: nothing changes";
  ASSERT_TRUE(again.done());
  EXPECT_TRUE(again.value->value().already_held);

  SetAnswer queued;
  const WaiterId w1 = core_.Set(b, Wait("x"), queued.Callback());
  EXPECT_THAT(Commit(), ElementsAre(absl::StrCat("WaiterQueued ", w1, " x B set permits=1")));
  ClearAnswer cleared;
  const WaiterId w2 = core_.WaitClear(b, WaitClear("x"), cleared.Callback());
  EXPECT_THAT(Commit(), ElementsAre(absl::StrCat("WaiterQueued ", w2, " x B clear")));

  EXPECT_THAT(core_.Refresh(a), IsOk());
  EXPECT_TRUE(core_.Test("x").set());
  EXPECT_THAT(Commit(), IsEmpty()) << "a refresh and a test change nothing stored";

  EXPECT_THAT(core_.Clear(a, "x"), IsOk());
  EXPECT_THAT(Commit(), ElementsAre("HolderRemoved x A", absl::StrCat("WaiterRemoved ", w1),
                                    "HolderAdded x B permits=1 token=2", "TokenHighWater 2"));
  EXPECT_TRUE(queued.done());

  core_.Cancel(w2);
  EXPECT_THAT(Commit(), ElementsAre(absl::StrCat("WaiterRemoved ", w2)));
  EXPECT_THAT(*cleared.value, StatusIs(absl::StatusCode::kCancelled));

  SetAnswer timed_out;
  const WaiterId w3 = core_.Set(a, Wait("x", absl::Seconds(1)), timed_out.Callback());
  EXPECT_THAT(Commit(), ElementsAre(absl::StrCat("WaiterQueued ", w3, " x A set permits=1")));
  clock_.Advance(absl::Seconds(2));
  core_.Tick();
  EXPECT_THAT(Commit(), ElementsAre(absl::StrCat("WaiterRemoved ", w3)));
  ASSERT_TRUE(timed_out.done());
  EXPECT_FALSE(timed_out.value->value().acquired);

  EXPECT_THAT(core_.CloseSession(b), IsOk());
  EXPECT_THAT(Commit(), ElementsAre("HolderRemoved x B", "SemaphoreErased x",
                                    "SessionEnded B"));

  clock_.Advance(absl::Seconds(9));  // past A's TTL (10 s from its creation)
  core_.Tick();
  EXPECT_THAT(Commit(), ElementsAre("SessionEnded A"));
}

TEST_F(CoreStoreTest, AdminOperationsRecordTheirEffects) {
  const SessionId a = Open("A");
  const SessionId b = Open("B");
  SetAnswer held;
  core_.Set(a, Try("x"), held.Callback());
  SetAnswer queued;
  const WaiterId w = core_.Set(b, Wait("x"), queued.Callback());
  Commit();

  EXPECT_THAT(core_.ForceClear("x", "test"), IsOk());
  EXPECT_THAT(Commit(), ElementsAre("HolderRemoved x A", absl::StrCat("WaiterRemoved ", w),
                                    "HolderAdded x B permits=1 token=2", "TokenHighWater 2"));
  EXPECT_THAT(core_.EndSession(b, "test"), IsOk());
  EXPECT_THAT(Commit(), ElementsAre("HolderRemoved x B", "SemaphoreErased x",
                                    "SessionEnded B"));
}

TEST_F(CoreStoreTest, AHandOnCommitsInOneBatchAndIsAnsweredAfterIt) {
  const SessionId a = Open("A");
  const SessionId b = Open("B");
  SetAnswer held;
  core_.Set(a, Try("x"), held.Callback());
  SetAnswer granted;
  core_.Set(b, Wait("x"), granted.Callback());
  Commit();
  ASSERT_FALSE(granted.done());

  bool clear_answered = false;
  EXPECT_THAT(core_.Clear(a, "x"), IsOk());
  core_.WhenDurable([&] { clear_answered = true; });
  EXPECT_FALSE(granted.done()) << "granted before the grant was committed";
  EXPECT_FALSE(clear_answered) << "cleared before the release was committed";

  const std::vector<std::string> batch = Commit();
  EXPECT_THAT(batch, ::testing::Contains("HolderRemoved x A"));
  EXPECT_THAT(batch, ::testing::Contains("HolderAdded x B permits=1 token=2"));
  EXPECT_TRUE(granted.done());
  EXPECT_TRUE(clear_answered);
  EXPECT_EQ(core_.BatchesCommitted(), 2u);
}

TEST_F(CoreStoreTest, AnswersWaitForTheirCommitAndComeInOrder) {
  const SessionId a = Open("A");
  std::vector<std::string> log;
  core_.WhenDurable([&] { log.push_back("session"); });
  core_.Set(a, Try("x"), [&](absl::StatusOr<SetOutcome>) { log.push_back("set"); });
  // A read: "y" is clear at once, but the answer shows state not yet committed.
  core_.WaitClear(a, WaitClear("y"),
                  [&](absl::StatusOr<engine::WaitClearOutcome>) { log.push_back("clear"); });
  EXPECT_TRUE(core_.Test("x").set());
  core_.WhenDurable([&] { log.push_back("test"); });
  EXPECT_THAT(log, IsEmpty());

  Commit();
  EXPECT_THAT(log, ElementsAre("session", "set", "clear", "test"));

  // Everything committed: a read is answered at once, on the caller's thread.
  core_.WhenDurable([&] { log.push_back("read"); });
  EXPECT_EQ(log.back(), "read");
}

TEST_F(CoreStoreTest, WithAnAnswerHookTheNextBatchCommitsBeforeTheAnswersAreGiven) {
  int hooked = 0;
  core_.SetAnswerHook([&] { ++hooked; });
  const SessionId a = Open("A");
  std::vector<std::string> log;
  core_.WhenDurable([&] { log.push_back("session"); });
  EXPECT_THAT(Commit(), Not(IsEmpty()));
  EXPECT_EQ(hooked, 0) << "no next batch: the committing thread answers";
  EXPECT_THAT(log, ElementsAre("session"));

  // A commit that ends with the next batch waiting leaves its answers to the answer
  // thread (the hook), so that the next batch can commit at once.
  store_.Block();
  core_.Set(a, Try("x"), [&](absl::StatusOr<SetOutcome>) { log.push_back("set x"); });
  std::thread committer([&] { EXPECT_TRUE(core_.CommitBatch()); });
  if (!store_.AwaitCommitsStarted(2)) {
    store_.Unblock();
    committer.join();
    FAIL() << "the commit did not start";
  }
  core_.Set(a, Try("y"), [&](absl::StatusOr<SetOutcome>) { log.push_back("set y"); });
  store_.Unblock();
  committer.join();
  EXPECT_EQ(hooked, 1);
  EXPECT_THAT(log, ElementsAre("session")) << "left to the answer thread";

  // A read decided now waits for the answers released before it (and for "y").
  EXPECT_TRUE(core_.Test("x").set());
  core_.WhenDurable([&] { log.push_back("test x"); });
  core_.GiveAnswers();  // as the answer thread does
  EXPECT_THAT(log, ElementsAre("session", "set x"));
  EXPECT_THAT(Commit(), Not(IsEmpty()));
  EXPECT_THAT(log, ElementsAre("session", "set x", "set y", "test x"));
  core_.WhenDurable([&] { log.push_back("read"); });
  EXPECT_EQ(log.back(), "read") << "nothing left to give: answered at once";
  core_.SetAnswerHook(nullptr);
}

TEST_F(CoreStoreTest, ReadsWaitForACommitThatIsRunning) {
  const SessionId a = Open("A");
  Commit();
  store_.Block();
  SetAnswer held;
  core_.Set(a, Try("x"), held.Callback());
  std::thread committer([&] { EXPECT_TRUE(core_.CommitBatch()); });
  if (!store_.AwaitCommitsStarted(2)) {
    store_.Unblock();
    committer.join();
    FAIL() << "the commit did not start";
  }
  // The batch is out of the engine but not committed: a read that shows it waits.
  bool tested = false;
  EXPECT_TRUE(core_.Test("x").set());
  core_.WhenDurable([&] { tested = true; });
  EXPECT_FALSE(tested);
  store_.Unblock();
  committer.join();
  EXPECT_TRUE(held.done());
  EXPECT_TRUE(tested);
}

TEST_F(CoreStoreTest, OperationsDuringACommitShareTheNextBatch) {
  constexpr int kOps = 50;
  const SessionId a = Open("A");
  Commit();
  store_.Block();
  SetAnswer first;
  core_.Set(a, Try("first"), first.Callback());
  std::thread committer([&] { EXPECT_TRUE(core_.CommitBatch()); });
  if (!store_.AwaitCommitsStarted(2)) {
    store_.Unblock();
    committer.join();
    FAIL() << "the commit did not start";
  }

  std::vector<SetAnswer> answers(kOps);
  for (int i = 0; i < kOps; ++i) {
    core_.Set(a, Try(absl::StrCat("n", i)), answers[i].Callback());
  }
  EXPECT_FALSE(core_.CommitBatch()) << "a second commit while one runs";
  for (const SetAnswer& answer : answers) EXPECT_FALSE(answer.done());
  store_.Unblock();
  committer.join();
  EXPECT_TRUE(first.done());
  for (const SetAnswer& answer : answers) EXPECT_FALSE(answer.done());

  // Every operation that arrived during the commit: one batch, one commit.
  const std::vector<std::string> batch = Commit();
  EXPECT_EQ(batch.size(), 2u * kOps + 1) << "created + holder each, one high-water";
  for (const SetAnswer& answer : answers) EXPECT_TRUE(answer.done());
  EXPECT_EQ(core_.BatchesCommitted(), 3u);
  EXPECT_EQ(store_.commits_started(), 3);
}

TEST_F(CoreStoreTest, AFailedCommitStopsEveryAnswer) {
  std::vector<absl::Status> failures;
  core_.SetCommitFailedHook([&](const absl::Status& s) { failures.push_back(s); });
  const SessionId a = Open("A");
  Commit();

  store_.FailWith(absl::DataLossError("disk gone"));
  SetAnswer lost;
  core_.Set(a, Try("x"), lost.Callback());
  EXPECT_FALSE(core_.CommitBatch());
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_THAT(failures[0], StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_FALSE(lost.done()) << "answered although its effects were not committed";

  // Nothing later is answered or committed either: memory is ahead of the store.
  SetAnswer later;
  core_.Set(a, Try("y"), later.Callback());
  bool read = false;
  EXPECT_TRUE(core_.Test("x").set());
  core_.WhenDurable([&] { read = true; });
  EXPECT_FALSE(core_.CommitBatch());
  EXPECT_FALSE(later.done());
  EXPECT_FALSE(read);
  EXPECT_EQ(failures.size(), 1u) << "the hook is told once";
  EXPECT_EQ(store_.commits_started(), 2);
  EXPECT_EQ(core_.BatchesCommitted(), 1u);
}

TEST_F(CoreStoreTest, DrainRecordsNothing) {
  const SessionId a = Open("A");
  const SessionId b = Open("B");
  SetAnswer held;
  core_.Set(a, Try("x"), held.Callback());
  SetAnswer waiting;
  core_.Set(b, Wait("x"), waiting.Callback());
  Commit();

  core_.Drain();
  // A shutdown keeps the state in the store, for the next start.
  EXPECT_FALSE(core_.CommitBatch());
  EXPECT_EQ(core_.BatchesCommitted(), 1u);
  ASSERT_TRUE(waiting.done());
  EXPECT_THAT(*waiting.value, StatusIs(absl::StatusCode::kUnavailable));
}

// Draining to restart, the core changes nothing it could not record: a clear, close
// or force-clear answered OK would be undone by the restart (the store still has the
// hold), so each is refused to be sent again; sessions do not expire meanwhile.
TEST_F(CoreStoreTest, AfterADrainToRestartNothingChanges) {
  const SessionId a = Open("A");
  const SessionId b = Open("B");
  SetAnswer x;
  core_.Set(a, Try("x"), x.Callback());
  SetAnswer y;
  core_.Set(b, Try("y"), y.Callback());
  Commit();
  core_.Drain();

  EXPECT_THAT(core_.Clear(a, "x"),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("semaphore \"x\" was not cleared: send the same request "
                                 "again once it is back")));
  EXPECT_THAT(core_.Clear(a, "x", /*seq=*/7), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(core_.CloseSession(b), StatusIs(absl::StatusCode::kUnavailable,
                                              HasSubstr("was not closed")));
  EXPECT_THAT(core_.ForceClear("y", "admin"), StatusIs(absl::StatusCode::kUnavailable,
                                                       HasSubstr("was not force-cleared")));
  EXPECT_THAT(core_.EndSession(b, "admin"), StatusIs(absl::StatusCode::kUnavailable,
                                                     HasSubstr("was not ended")));
  // What a drain refuses in any case says the server comes back with its state.
  SetAnswer refused_set;
  core_.Set(a, Try("z"), refused_set.Callback());
  ASSERT_TRUE(refused_set.done());
  EXPECT_THAT(*refused_set.value,
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("restarting with its state; semaphore \"z\" was not set")));
  ClearAnswer refused_wait;
  core_.WaitClear(a, WaitClear("x"), refused_wait.Callback());
  ASSERT_TRUE(refused_wait.done());
  EXPECT_THAT(*refused_wait.value, StatusIs(absl::StatusCode::kUnavailable,
                                            HasSubstr("restarting with its state")));
  EXPECT_THAT(core_.CreateSession("C", absl::Seconds(10)),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("restarting with its state; new sessions are refused")));
  clock_.Advance(absl::Seconds(60));  // past both TTLs
  core_.Tick();
  EXPECT_EQ(core_.Test("x").holders.size(), 1u);
  EXPECT_EQ(core_.Test("y").holders.size(), 1u);
  EXPECT_THAT(core_.Refresh(a), IsOk());
  EXPECT_THAT(core_.Refresh(b), IsOk());
  EXPECT_FALSE(core_.CommitBatch());
}

// The commands of one stream message (here: a release and the set after it) commit
// in one batch: a commit that starts meanwhile waits for the hold to end.
TEST(CoreStoreGateTest, WhileTheServerMayNotAnswerNothingIsGiven) {
  FakeClock clock;
  CounterTokenSource tokens;
  FakeStore store;
  std::atomic<bool> may{true};
  CoreOptions options = WithStore(&store);
  options.may_answer = [&] { return may.load(); };
  Core core(&clock, &tokens, std::move(options));
  absl::StatusOr<NewSession> a = core.CreateSession("A", absl::Seconds(10));
  ASSERT_THAT(a, IsOk());
  ASSERT_TRUE(core.CommitBatch());
  std::vector<std::string> log;
  core.WhenDurable([&] { log.push_back("read"); });
  EXPECT_THAT(log, ElementsAre("read"));

  may = false;  // e.g. the leader's lease may have lapsed
  core.WhenDurable([&] { log.push_back("read while not allowed"); });
  SetArgs set;
  set.name = "x";
  core.Set(a->id, set, [&](absl::StatusOr<SetOutcome>) { log.push_back("set"); });
  EXPECT_TRUE(core.CommitBatch());
  EXPECT_THAT(log, ElementsAre("read")) << "committed, but not given";

  may = true;
  core.GiveAnswers();
  EXPECT_THAT(log, ElementsAre("read", "read while not allowed", "set"));
}

TEST(CoreStoreHoldTest, ACommitWaitsForTheOperationsOfAHold) {
  FakeClock clock;
  CounterTokenSource tokens;
  FakeStore store;
  EffectText text;
  CoreOptions options = WithStore(&store);
  options.max_batch_hold = absl::Minutes(1);  // the test ends the hold itself
  Core core(&clock, &tokens, options);
  absl::StatusOr<NewSession> a = core.CreateSession("A", absl::Seconds(10));
  ASSERT_THAT(a, IsOk());
  text.Name(a->id, "A");
  SetAnswer held;
  SetArgs args;
  args.name = "x";
  core.Set(a->id, args, held.Callback());
  ASSERT_TRUE(core.CommitBatch());

  const uint64_t hold = core.HoldBatch();
  EXPECT_THAT(core.Clear(a->id, "x"), IsOk());
  std::atomic<bool> committed{false};
  std::thread committer([&] { committed = core.CommitBatch(); });
  absl::SleepFor(absl::Milliseconds(50));  // time enough to take a batch, were it free
  EXPECT_FALSE(committed);
  EXPECT_EQ(store.batches().size(), 1u);
  SetAnswer again;
  core.Set(a->id, args, again.Callback());
  core.EndBatchHold(hold);
  committer.join();
  EXPECT_TRUE(committed);
  ASSERT_EQ(store.batches().size(), 2u);
  EXPECT_THAT(text(store.batches().back()),
              ElementsAre("HolderRemoved x A", "SemaphoreErased x", "SemaphoreCreated x limit=1",
                          "HolderAdded x A permits=1 token=2", "TokenHighWater 2"));
  EXPECT_TRUE(again.done());
}

// A hold that is not ended in time does not stop commits.
TEST(CoreStoreHoldTest, AHoldDelaysACommitAtMostMaxBatchHold) {
  FakeClock clock;
  CounterTokenSource tokens;
  FakeStore store;
  CoreOptions options = WithStore(&store);
  options.max_batch_hold = absl::Milliseconds(20);
  Core core(&clock, &tokens, options);
  ASSERT_THAT(core.CreateSession("A", absl::Seconds(10)), IsOk());
  const uint64_t hold = core.HoldBatch();
  const absl::Time start = absl::Now();
  EXPECT_TRUE(core.CommitBatch());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(20));
  core.EndBatchHold(hold);
}

// A commit waits for the holds open when it began, not for those opened meanwhile
// (under load some hold is always open).
TEST(CoreStoreHoldTest, ACommitDoesNotWaitForHoldsOpenedAfterItBegan) {
  FakeClock clock;
  CounterTokenSource tokens;
  FakeStore store;
  CoreOptions options = WithStore(&store);
  options.max_batch_hold = absl::Minutes(1);
  Core core(&clock, &tokens, options);
  ASSERT_THAT(core.CreateSession("A", absl::Seconds(10)), IsOk());
  const uint64_t first = core.HoldBatch();
  std::atomic<bool> started{false};
  std::atomic<bool> committed{false};
  std::thread committer([&] {
    started = true;
    committed = core.CommitBatch();
  });
  while (!started) absl::SleepFor(absl::Milliseconds(1));
  absl::SleepFor(absl::Milliseconds(50));  // the commit now waits for `first`
  const uint64_t second = core.HoldBatch();
  const absl::Time ended = absl::Now();
  core.EndBatchHold(first);
  committer.join();
  EXPECT_TRUE(committed);
  EXPECT_LT(absl::Now() - ended, absl::Seconds(30)) << "it waited for `second`";
  ASSERT_THAT(core.CreateSession("B", absl::Seconds(10)), IsOk());
  core.EndBatchHold(second);
  EXPECT_TRUE(core.CommitBatch());
  EXPECT_EQ(store.batches().size(), 2u);
}

TEST(CoreStoreOffTest, WithoutAStoreEverythingIsAnsweredAtOnce) {
  FakeClock clock;
  CounterTokenSource tokens;
  Core core(&clock, &tokens);
  absl::StatusOr<NewSession> a = core.CreateSession("A", absl::Seconds(10));
  ASSERT_THAT(a, IsOk());
  SetAnswer held;
  SetArgs args;
  args.name = "x";
  core.Set(a->id, args, held.Callback());
  EXPECT_TRUE(held.done());
  bool ran = false;
  core.WhenDurable([&] { ran = true; });
  EXPECT_TRUE(ran);
  EXPECT_FALSE(core.CommitBatch());
  EXPECT_EQ(core.BatchesCommitted(), 0u);
}

}  // namespace
}  // namespace semaphored::internal
