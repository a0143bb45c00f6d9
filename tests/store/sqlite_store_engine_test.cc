// The engine on the SQLite store: whatever the engine commits, the store accepts (its
// consistency checks find nothing to refuse) and loads back, after a reopen, as
// exactly the engine's own state.

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "common/clock.h"
#include "engine/core.h"
#include "engine/counter_token_source.h"
#include "store/sqlite_store.h"
#include "tests/common/status_matchers.h"
#include "tests/engine/store_workload.h"
#include "tests/store/store_model.h"

namespace semaphored::store {
namespace {

using ::semaphored::internal::FakeClock;
using ::semaphored::internal::RunStoreWorkload;
using ::semaphored::internal::WorkloadStats;
using ::semaphored::store::testing::Dump;
using ::semaphored::store::testing::TempDir;
using ::semaphored::testing::IsOk;

TEST(SqliteStoreEngineTest, WhatTheEngineCommitsLoadsBackAsItsState) {
  for (uint64_t seed = 1; seed <= 2; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    TempDir tmp;
    std::string engine_state;
    {
      ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteStore> store, SqliteStore::Open(tmp.path()));
      ASSERT_OK_AND_ASSIGN(engine::StoredState loaded, store->Load());
      EXPECT_EQ(Dump(loaded), Dump(engine::StoredState{}));
      FakeClock clock;
      engine::CounterTokenSource tokens;
      engine::CoreOptions options;
      options.store = store.get();
      options.max_sessions_per_peer = 0;
      options.session_rate_per_peer = 0;
      WorkloadStats stats;
      engine::Core core(&clock, &tokens, options);
      std::vector<absl::Status> failures;
      core.SetCommitFailedHook([&](const absl::Status& s) { failures.push_back(s); });
      RunStoreWorkload(core, clock, seed, 1500, stats);
      while (core.CommitBatch()) {
      }
      ASSERT_TRUE(failures.empty()) << "the store refused a batch: " << failures[0];
      EXPECT_GT(core.BatchesCommitted(), 50u);
      engine_state = Dump(core.StateForStore());
    }
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteStore> reopened, SqliteStore::Open(tmp.path()));
    ASSERT_OK_AND_ASSIGN(engine::StoredState state, reopened->Load());
    state.last_session = 0;  // the engine keeps no maximum of its random ids
    EXPECT_EQ(Dump(state), engine_state);
  }
}

// The server's start, twice: load the store, restore a core from it, run, close;
// reopen, load, restore another core: it is the first one's state, and it carries on
// on the same store (which refuses any effect that contradicts what it keeps). A
// session id of 2^63 or more (ids are random 64-bit values) and the last session id
// round-trip too.
TEST(SqliteStoreEngineTest, RestoredCoreCarriesOnWhereTheLastOneStopped) {
  constexpr engine::SessionId kHigh = 0xFFFF'FFFF'FFFF'FFFE;
  const absl::Time t0 = absl::FromUnixSeconds(1'780'000'000);
  TempDir tmp;
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteStore> store, SqliteStore::Open(tmp.path()));
    ASSERT_THAT(store->Load(), IsOk());
    engine::EffectBatch batch;
    batch.effects.push_back(
        engine::SessionOpened{kHigh, "high-secret", "high", "10.0.0.9", absl::Seconds(30)});
    batch.effects.push_back(engine::SemaphoreCreated{"high", 1});
    batch.effects.push_back(engine::HolderAdded{"high", kHigh, 1, 7, t0});
    batch.effects.push_back(engine::TokenHighWater{7});
    ASSERT_THAT(store->Commit(batch), IsOk());
  }
  std::string last_state;
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    SCOPED_TRACE(absl::StrCat("start ", seed));
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteStore> store, SqliteStore::Open(tmp.path()));
    ASSERT_OK_AND_ASSIGN(engine::StoredState loaded, store->Load());
    EXPECT_EQ(loaded.last_session, kHigh);
    bool high_loaded = false;
    for (const engine::SessionOpened& s : loaded.sessions) high_loaded |= s.session == kHigh;
    EXPECT_TRUE(high_loaded) << "session " << kHigh << " was not loaded";
    FakeClock clock(t0 + absl::Hours(static_cast<int64_t>(seed)));
    engine::CounterTokenSource tokens(loaded.token_high_water);
    engine::CoreOptions options;
    options.store = store.get();
    options.max_sessions_per_peer = 0;
    options.session_rate_per_peer = 0;
    WorkloadStats stats;
    engine::Core core(&clock, &tokens, options);
    std::vector<absl::Status> failures;
    core.SetCommitFailedHook([&](const absl::Status& s) { failures.push_back(s); });
    ASSERT_THAT(core.Restore(loaded), IsOk());
    loaded.last_session = 0;  // the engine keeps no maximum of its random ids
    EXPECT_EQ(Dump(core.StateForStore()), Dump(loaded));
    if (!last_state.empty()) EXPECT_EQ(Dump(loaded), last_state);
    // kHigh keeps its session (and "high") alive through every workload: it is
    // refreshed, and the workload only touches its own sessions.
    ASSERT_THAT(core.Refresh(kHigh), IsOk());
    RunStoreWorkload(core, clock, seed, 400, stats);
    while (core.CommitBatch()) {
    }
    ASSERT_TRUE(failures.empty()) << "the store refused a batch: " << failures[0];
    ASSERT_THAT(core.CheckInvariants(), IsOk());
    last_state = Dump(core.StateForStore());
  }
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteStore> store, SqliteStore::Open(tmp.path()));
  ASSERT_OK_AND_ASSIGN(engine::StoredState loaded, store->Load());
  loaded.last_session = 0;
  EXPECT_EQ(Dump(loaded), last_state);
}

}  // namespace
}  // namespace semaphored::store
