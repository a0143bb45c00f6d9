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

}  // namespace
}  // namespace semaphored::store
