// SqliteStore against a model: whatever was committed loads back, across reopens.
#include <sys/stat.h>

#include <memory>
#include <random>

#include "gtest/gtest.h"
#include "store/sqlite_store.h"
#include "tests/common/status_matchers.h"
#include "tests/store/store_model.h"

namespace semaphored::store {
namespace {

using ::semaphored::store::testing::Dump;
using ::semaphored::store::testing::RandomBatch;
using ::semaphored::store::testing::StoreModel;
using ::semaphored::store::testing::TempDir;
using ::semaphored::testing::IsOk;

TEST(SqliteStoreModelTest, NewDirLoadsEmptyWithPrivateModes) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/data/nested";  // parents are created too
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteStore> store, SqliteStore::Open(dir));
  EXPECT_EQ(store->Describe(), "sqlite " + dir + "/semaphored.db");
  ASSERT_OK_AND_ASSIGN(engine::StoredState state, store->Load());
  EXPECT_EQ(Dump(state), Dump(engine::StoredState{}));
  struct stat st;
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat((dir + "/semaphored.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((dir + "/semaphored.db-wal").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(SqliteStoreModelTest, HolderAddedAgainBecomesNewestGrant) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteStore> store, SqliteStore::Open(tmp.path()));
  const absl::Time t = absl::FromUnixSeconds(1'800'000'000);
  engine::EffectBatch batch;
  for (engine::SessionId s : {1, 2, 3}) {
    batch.effects.push_back(engine::SessionOpened{s, "x", "c", "p", absl::Seconds(1)});
  }
  batch.effects.push_back(engine::SemaphoreCreated{"a", 5});
  batch.effects.push_back(engine::HolderAdded{"a", 1, 1, 10, t});
  batch.effects.push_back(engine::HolderAdded{"a", 2, 1, 11, t});
  batch.effects.push_back(engine::HolderAdded{"a", 3, 1, 12, t});
  batch.effects.push_back(engine::HolderAdded{"a", 1, 2, 13, t + absl::Seconds(1)});
  batch.effects.push_back(engine::TokenHighWater{13});
  batch.effects.push_back(engine::TokenHighWater{5});  // lower: the larger stays
  ASSERT_THAT(store->Commit(batch), IsOk());
  ASSERT_OK_AND_ASSIGN(engine::StoredState state, store->Load());
  ASSERT_EQ(state.semaphores.size(), 1u);
  const auto& holders = state.semaphores[0].holders;
  ASSERT_EQ(holders.size(), 3u);
  EXPECT_EQ(holders[0].session, 2u);
  EXPECT_EQ(holders[1].session, 3u);
  EXPECT_EQ(holders[2].session, 1u);
  EXPECT_EQ(holders[2].permits, 2);
  EXPECT_EQ(holders[2].fencing_token, 13u);
  EXPECT_EQ(holders[2].since, t + absl::Seconds(1));
  EXPECT_EQ(state.token_high_water, 13u);
  EXPECT_EQ(state.last_session, 3u);
}

// Random batches, then close and reopen: Load equals the model that applied the same
// batches. Several seeds, each over several reopen cycles.
TEST(SqliteStoreModelTest, RandomBatchesLoadBackAfterEveryReopen) {
  constexpr int kSeeds = 4;
  constexpr int kCycles = 5;
  constexpr int kBatchesPerCycle = 12;
  int effects = 0;
  for (int seed = 1; seed <= kSeeds; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    TempDir tmp;
    std::mt19937_64 rng(seed);
    StoreModel model;
    for (int cycle = 0; cycle < kCycles; ++cycle) {
      SCOPED_TRACE(::testing::Message() << "cycle " << cycle);
      ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteStore> store,
                           SqliteStore::Open(tmp.path()));
      ASSERT_OK_AND_ASSIGN(engine::StoredState loaded, store->Load());
      ASSERT_EQ(Dump(loaded), Dump(model.State()));
      for (int b = 0; b < kBatchesPerCycle; ++b) {
        engine::EffectBatch batch =
            RandomBatch(model, rng, 1 + static_cast<int>(rng() % 40));
        ASSERT_THAT(store->Commit(batch), IsOk());
        model.Apply(batch);
        effects += static_cast<int>(batch.effects.size());
      }
    }
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteStore> store, SqliteStore::Open(tmp.path()));
    ASSERT_OK_AND_ASSIGN(engine::StoredState loaded, store->Load());
    EXPECT_EQ(Dump(loaded), Dump(model.State()));
    // The model test must have something to compare.
    EXPECT_FALSE(model.sessions().empty());
    EXPECT_FALSE(model.semaphores().empty());
  }
  std::printf("committed %d random effects over %d seeds\n", effects, kSeeds);
}

}  // namespace
}  // namespace semaphored::store
