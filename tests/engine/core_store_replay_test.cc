// The engine's recorded effects against the store's model: after random operations,
// replaying every committed batch on an empty store gives exactly the engine's own
// state, and every batch keeps the store's consistency contract (engine/store.h). And
// the Committer thread: operations that arrive during a commit share the next one.

#include <atomic>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "engine/committer.h"
#include "engine/core.h"
#include "engine/counter_token_source.h"
#include "tests/common/status_matchers.h"
#include "tests/engine/fake_store.h"
#include "tests/engine/store_workload.h"
#include "tests/store/store_model.h"

namespace semaphored::internal {
namespace {

using engine::Core;
using engine::CoreOptions;
using engine::CounterTokenSource;
using engine::Effect;
using engine::EffectBatch;
using engine::NewSession;
using engine::SetArgs;
using engine::SetOutcome;
using engine::WaitClearArgs;
using engine::WaitClearOutcome;
using engine::WaiterId;
using ::semaphored::testing::IsOk;

// The store's consistency contract, checked effect by effect: nothing created twice,
// nothing removed that is not there or while something still refers to it, nothing
// that names what is not there. Returns the first violation, "" when none.
class ContractCheck {
 public:
  std::string Apply(const Effect& e) {
    return std::visit([this](const auto& v) { return Check(v); }, e);
  }

 private:
  struct Sem {
    std::set<SessionId> holders;
    std::set<WaiterId> waiters;
  };
  std::string Check(const engine::SessionOpened& e) {
    if (!sessions_.emplace(e.session, 0).second) return "session opened twice";
    return "";
  }
  std::string Check(const engine::SessionEnded& e) {
    auto it = sessions_.find(e.session);
    if (it == sessions_.end()) return "unknown session ended";
    if (it->second != 0) return "session ended before its holders and waiters were removed";
    sessions_.erase(it);
    // Its outcomes go with it.
    outcomes_.erase(outcomes_.lower_bound({e.session, 0}),
                    outcomes_.lower_bound({e.session + 1, 0}));
    return "";
  }
  std::string Check(const engine::SemaphoreCreated& e) {
    if (!sems_.emplace(e.name, Sem{}).second) return "semaphore created twice: " + e.name;
    return "";
  }
  std::string Check(const engine::SemaphoreErased& e) {
    auto it = sems_.find(e.name);
    if (it == sems_.end()) return "unknown semaphore erased: " + e.name;
    if (!it->second.holders.empty() || !it->second.waiters.empty()) {
      return "semaphore erased while in use: " + e.name;
    }
    sems_.erase(it);
    return "";
  }
  std::string Check(const engine::HolderAdded& e) {
    auto it = sems_.find(e.name);
    if (it == sems_.end()) return "holder of an unknown semaphore: " + e.name;
    if (sessions_.count(e.session) == 0) return "holder of an unknown session on " + e.name;
    if (it->second.holders.insert(e.session).second) ++sessions_[e.session];
    return "";
  }
  std::string Check(const engine::HolderRemoved& e) {
    auto it = sems_.find(e.name);
    if (it == sems_.end() || it->second.holders.erase(e.session) == 0) {
      return "unknown holder removed from " + e.name;
    }
    --sessions_[e.session];
    return "";
  }
  std::string Check(const engine::WaiterQueued& e) {
    auto it = sems_.find(e.name);
    if (it == sems_.end()) return "waiter on an unknown semaphore: " + e.name;
    if (sessions_.count(e.session) == 0) return "waiter of an unknown session on " + e.name;
    if (!waiters_.emplace(e.waiter, std::make_pair(e.name, e.session)).second) {
      return "waiter queued twice";
    }
    it->second.waiters.insert(e.waiter);
    ++sessions_[e.session];
    return "";
  }
  std::string Check(const engine::WaiterRemoved& e) {
    auto it = waiters_.find(e.waiter);
    if (it == waiters_.end()) return "unknown waiter removed";
    sems_[it->second.first].waiters.erase(e.waiter);
    --sessions_[it->second.second];
    waiters_.erase(it);
    return "";
  }
  std::string Check(const engine::TokenHighWater&) { return ""; }
  std::string Check(const engine::CommandOutcome& e) {
    if (sessions_.count(e.session) == 0) return "outcome of an unknown session";
    if (!outcomes_.emplace(e.session, e.seq).second) return "outcome kept twice";
    return "";
  }
  std::string Check(const engine::CommandsAcked& e) {
    if (e.seqs.empty()) return "empty acknowledgement";
    for (const uint64_t seq : e.seqs) {
      if (outcomes_.erase({e.session, seq}) == 0) return "unknown outcome acknowledged";
    }
    return "";
  }

  std::map<SessionId, int> sessions_;  // -> its holders and waiters
  std::map<std::string, Sem> sems_;
  std::map<WaiterId, std::pair<std::string, SessionId>> waiters_;
  std::set<std::pair<SessionId, uint64_t>> outcomes_;
};

TEST(CoreStoreReplayTest, CommittedBatchesRebuildTheEnginesState) {
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    FakeClock clock;
    CounterTokenSource tokens;
    FakeStore store;
    CoreOptions options;
    options.store = &store;
    options.max_sessions_per_peer = 0;
    options.session_rate_per_peer = 0;
    WorkloadStats stats;
    Core core(&clock, &tokens, options);
    RunStoreWorkload(core, clock, seed, 3000, stats);
    while (core.CommitBatch()) {
    }
    ASSERT_THAT(core.CheckInvariants(), IsOk());

    store::testing::StoreModel model;
    ContractCheck contract;
    size_t effects = 0;
    for (const EffectBatch& batch : store.batches()) {
      for (const Effect& e : batch.effects) {
        const std::string violation = contract.Apply(e);
        ASSERT_EQ(violation, "") << "effect " << effects << ": " << EffectText()(e);
        ++effects;
      }
      model.Apply(batch);
    }
    EXPECT_GT(effects, 1000u) << "the workload did too little to test anything";
    engine::StoredState replayed = model.State();
    replayed.last_session = 0;  // the engine keeps no maximum of its random ids
    EXPECT_EQ(store::testing::Dump(replayed), store::testing::Dump(core.StateForStore()));
    // Everything committed: every request answered once is answered, the rest wait.
    EXPECT_EQ(stats.answered + core.Counts().waiters, stats.asked);
  }
}

TEST(CommitterTest, OperationsDuringACommitShareTheNextOne) {
  constexpr int kOps = 100;
  FakeClock clock;
  CounterTokenSource tokens;
  FakeStore store;
  CoreOptions options;
  options.store = &store;
  Core core(&clock, &tokens, options);
  absl::Mutex mu;
  int answered = 0;
  auto count = [&](absl::StatusOr<SetOutcome> outcome) {
    EXPECT_THAT(outcome, IsOk());
    absl::MutexLock lock(&mu);
    ++answered;
  };
  {
    engine::Committer committer(&core);
    store.Block();
    // Destroyed before the committer, which could not stop during a blocked commit.
    struct Unblocker {
      FakeStore& store;
      ~Unblocker() { store.Unblock(); }
    } unblocker{store};
    absl::StatusOr<NewSession> a = core.CreateSession("A", absl::Seconds(10));
    ASSERT_THAT(a, IsOk());
    // The committer took the session's batch and is committing it (blocked).
    ASSERT_TRUE(store.AwaitCommitsStarted(1));
    for (int i = 0; i < kOps; ++i) {
      SetArgs args;
      args.name = absl::StrCat("n", i);
      core.Set(a->id, std::move(args), count);
    }
    {
      absl::MutexLock lock(&mu);
      EXPECT_EQ(answered, 0);
    }
    store.Unblock();
    absl::MutexLock lock(&mu);
    EXPECT_TRUE(mu.AwaitWithTimeout(
        absl::Condition(+[](int* n) { return *n == kOps; }, &answered), absl::Seconds(10)));
  }
  EXPECT_EQ(core.BatchesCommitted(), 2u) << "one commit for the session, one for the rest";
}

}  // namespace
}  // namespace semaphored::internal
