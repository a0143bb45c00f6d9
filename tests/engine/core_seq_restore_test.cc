// At most once across a restart: Restore brings back each session's last_seq, its
// kept outcomes and its waiters' seqs; a re-sent queued command claims its orphan and
// keeps its place; an orphan decided before its re-send answers it with that outcome;
// a stored state whose seqs contradict each other is DATA_LOSS.

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
#include "tests/store/store_model.h"

namespace semaphored::internal {
namespace {

using engine::CommandKind;
using engine::CommandOutcome;
using engine::Core;
using engine::CoreOptions;
using engine::CounterTokenSource;
using engine::EffectBatch;
using engine::NewSession;
using engine::SetArgs;
using engine::StoredState;
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

void Flush(Core& core) {
  for (int i = 0; i < 1000 && core.CommitBatch(); ++i) {
  }
}

StoredState Loaded(const FakeStore& store) {
  StoreModel model;
  for (const EffectBatch& batch : store.batches()) model.Apply(batch);
  return model.State();
}

SetArgs Set(std::string name, uint64_t seq, absl::Duration timeout = absl::ZeroDuration()) {
  SetArgs a;
  a.name = std::move(name);
  a.seq = seq;
  a.wait.timeout = timeout;
  return a;
}

WaitClearArgs WaitClear(std::string name, uint64_t seq, absl::Duration timeout) {
  WaitClearArgs a;
  a.name = std::move(name);
  a.seq = seq;
  a.wait.timeout = timeout;
  return a;
}

// Before the restart: A holds printer (seq 1) and cleared nothing yet; B waits for it
// (seq 1) and for it to clear (seq 2); C waits for it unsequenced, after B.
struct BeforeRestart {
  FakeClock clock{kT0};
  CounterTokenSource tokens;
  FakeStore store;
  Core core{&clock, &tokens, WithStore(&store)};
  NewSession a, b, c;
  WaiterId b_set = 0, b_clear = 0, c_set = 0;
  uint64_t a_token = 0;

  void Run() {
    a = core.CreateSession("A", absl::Seconds(30)).value();
    b = core.CreateSession("B", absl::Seconds(30)).value();
    c = core.CreateSession("C", absl::Seconds(30)).value();
    SetAnswer a_set, ignored_b, ignored_c;
    ClearAnswer ignored_clear;
    core.Set(a.id, Set("printer", 1), a_set.Callback());
    b_set = core.Set(b.id, Set("printer", 1, absl::Seconds(60)), ignored_b.Callback());
    b_clear = core.WaitClear(b.id, WaitClear("printer", 2, absl::Seconds(60)),
                             ignored_clear.Callback());
    c_set = core.Set(c.id, Set("printer", 0, absl::Seconds(60)), ignored_c.Callback());
    Flush(core);
    a_token = a_set.value->value().grant.fencing_token;
  }
};

class CoreSeqRestoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    before_.Run();
    state_ = Loaded(before_.store);
    tokens_ = CounterTokenSource(state_.token_high_water);
    ASSERT_THAT(after_.Restore(state_), IsOk());
  }
  void TearDown() override { EXPECT_THAT(after_.CheckInvariants(), IsOk()); }

  BeforeRestart before_;
  StoredState state_;
  FakeClock clock_{kT0 + absl::Seconds(20)};
  CounterTokenSource tokens_;
  FakeStore store_;
  Core after_{&clock_, &tokens_, WithStore(&store_)};
};

TEST_F(CoreSeqRestoreTest, StateRoundTripsWithSeqsAndOutcomes) {
  StoredState from_core = after_.StateForStore();
  from_core.last_session = state_.last_session;
  EXPECT_EQ(Dump(from_core), Dump(state_));
  ASSERT_EQ(state_.outcomes.size(), 1u);
  EXPECT_EQ(engine::Summarize(state_).outcomes, 1) << "for the startup line";
  EXPECT_EQ(state_.outcomes[0].session, before_.a.id);
  EXPECT_TRUE(state_.outcomes[0].acquired);
  for (const auto& s : state_.sessions) {
    SCOPED_TRACE(s.client_name);
    EXPECT_EQ(s.last_seq, s.client_name == "A" ? 1u : s.client_name == "B" ? 2u : 0u);
  }
  StoredState recorder = before_.core.StateForStore();
  recorder.last_session = state_.last_session;
  EXPECT_EQ(Dump(recorder), Dump(from_core)) << "the core that recorded it";
}

TEST_F(CoreSeqRestoreTest, ResentQueuedCommandsClaimTheirPlaces) {
  // A's set is answered with its kept outcome, not granted again.
  SetAnswer a_again;
  EXPECT_EQ(after_.Set(before_.a.id, Set("printer", 1), a_again.Callback()), 0u);
  ASSERT_TRUE(a_again.done());
  EXPECT_EQ(a_again.value->value().grant.fencing_token, before_.a_token);

  SetAnswer b_set;
  ClearAnswer b_clear;
  EXPECT_EQ(after_.Set(before_.b.id, Set("printer", 1, absl::Seconds(60)), b_set.Callback()),
            before_.b_set);
  EXPECT_EQ(after_.WaitClear(before_.b.id, WaitClear("printer", 2, absl::Seconds(60)),
                             b_clear.Callback()),
            before_.b_clear);
  EXPECT_EQ(after_.Counts().waiters, 3) << "claimed, not queued again";
  SetAnswer twice;
  after_.Set(before_.b.id, Set("printer", 1, absl::Seconds(60)), twice.Callback());
  ASSERT_TRUE(twice.done());
  EXPECT_THAT(*twice.value, StatusIs(absl::StatusCode::kFailedPrecondition,
                                     HasSubstr("is still pending")));
  EXPECT_FALSE(after_.CommitBatch()) << "re-sends and claims record nothing";

  ASSERT_THAT(after_.Clear(before_.a.id, "printer", 2), IsOk());
  Flush(after_);
  ASSERT_TRUE(b_set.done()) << "B kept its place ahead of C";
  EXPECT_GT(b_set.value->value().grant.fencing_token, before_.a_token);
  EXPECT_FALSE(b_clear.done()) << "B holds it now";
  SetAnswer b_again;
  after_.Set(before_.b.id, Set("printer", 1, absl::Seconds(60)), b_again.Callback());
  Flush(after_);
  EXPECT_EQ(b_again.value->value().grant.fencing_token,
            b_set.value->value().grant.fencing_token);
}

TEST_F(CoreSeqRestoreTest, OrphanDecidedBeforeItsResendAnswersIt) {
  // An unsequenced retry does not take B's sequenced place.
  SetAnswer unsequenced;
  const WaiterId other =
      after_.Set(before_.b.id, Set("printer", 0, absl::Seconds(60)), unsequenced.Callback());
  EXPECT_NE(other, before_.b_set);
  EXPECT_GT(other, before_.c_set);
  ASSERT_THAT(after_.Clear(before_.a.id, "printer", 2), IsOk());  // grants the orphan
  Flush(after_);
  EXPECT_TRUE(unsequenced.done()) << "answered already held with the orphan's grant";
  const uint64_t b_token = after_.Test("printer").holders.at(0).grant.fencing_token;

  SetAnswer resent;
  EXPECT_EQ(after_.Set(before_.b.id, Set("printer", 1, absl::Seconds(60)), resent.Callback()),
            0u);
  Flush(after_);
  ASSERT_TRUE(resent.done());
  EXPECT_TRUE(resent.value->value().acquired);
  EXPECT_FALSE(resent.value->value().already_held) << "its first answer";
  EXPECT_EQ(resent.value->value().grant.fencing_token, b_token);

  // The wait-for-clear orphan times out unclaimed; its re-send gets "not clear".
  // (Its stored deadline is 60 s after kT0; B stays alive by refreshing.)
  for (int step = 0; step < 2; ++step) {
    clock_.Advance(absl::Seconds(21));
    ASSERT_THAT(after_.Refresh(before_.b.id), IsOk());
    for (int i = 0; i < 10 && after_.NextDeadline() <= clock_.Now(); ++i) after_.Tick();
  }
  EXPECT_EQ(after_.Counts().waiters, 0) << "both timed out (C's session expired too)";
  Flush(after_);
  ClearAnswer clear_resent;
  EXPECT_EQ(after_.WaitClear(before_.b.id, WaitClear("printer", 2, absl::Seconds(60)),
                             clear_resent.Callback()),
            0u);
  Flush(after_);
  ASSERT_TRUE(clear_resent.done());
  EXPECT_FALSE(clear_resent.value->value().clear);
}

TEST(CoreSeqRestoreCheckTest, ContradictingSeqsAreDataLoss) {
  BeforeRestart before;
  before.Run();
  const StoredState good = Loaded(before.store);
  struct Case {
    std::string what;
    std::function<void(StoredState&)> damage;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"outcome of a session not stored",
       [](StoredState& s) { s.outcomes[0].session = 4242; },
       "is of a session not stored"},
      {"duplicate outcome", [](StoredState& s) { s.outcomes.push_back(s.outcomes[0]); },
       "is stored twice"},
      {"outcome above last_seq", [](StoredState& s) { s.outcomes[0].seq = 9; },
       "outside 1 to its session's last seq"},
      {"outcome seq 0", [](StoredState& s) { s.outcomes[0].seq = 0; },
       "outside 1 to its session's last seq"},
      {"outcome of a waiting command",
       [&](StoredState& s) {
         CommandOutcome o;
         o.session = before.b.id;
         o.seq = 1;
         o.kind = CommandKind::kSet;
         s.outcomes.push_back(o);
       },
       "or its command also waits"},
      {"waiter seq above last_seq",
       [](StoredState& s) { s.semaphores[0].waiters[0].seq = 99; },
       "above its session's last seq"},
      {"two waiters with one seq",
       [](StoredState& s) { s.semaphores[0].waiters[1].seq = s.semaphores[0].waiters[0].seq; },
       "which another waiter of its session has"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    StoredState bad = good;
    ASSERT_EQ(bad.semaphores.size(), 1u);
    ASSERT_GE(bad.semaphores[0].waiters.size(), 2u);
    c.damage(bad);
    FakeClock clock(kT0);
    CounterTokenSource tokens(bad.token_high_water);
    Core core(&clock, &tokens);
    EXPECT_THAT(core.Restore(bad), StatusIs(absl::StatusCode::kDataLoss, HasSubstr(c.message)));
    EXPECT_EQ(core.Counts().sessions, 0) << "left as new";
    EXPECT_THAT(core.Restore(good), IsOk()) << "and still restorable";
  }
}

}  // namespace
}  // namespace semaphored::internal
