// MemoryStore keeps nothing.
#include "store/memory_store.h"

#include "gtest/gtest.h"
#include "tests/common/status_matchers.h"

namespace semaphored::store {
namespace {

using ::semaphored::testing::IsOk;

TEST(MemoryStoreTest, CommitsSucceedAndLoadIsAlwaysEmpty) {
  MemoryStore store;
  ASSERT_OK_AND_ASSIGN(engine::StoredState empty, store.Load());
  EXPECT_TRUE(empty.sessions.empty());
  engine::EffectBatch batch;
  batch.effects.push_back(engine::SessionOpened{7, "secret", "c", "p", absl::Seconds(5)});
  batch.effects.push_back(engine::SemaphoreCreated{"a", 1});
  batch.effects.push_back(engine::HolderAdded{"a", 7, 1, 1, absl::Now()});
  batch.effects.push_back(engine::TokenHighWater{9});
  EXPECT_THAT(store.Commit(batch), IsOk());
  ASSERT_OK_AND_ASSIGN(engine::StoredState after, store.Load());
  EXPECT_TRUE(after.sessions.empty());
  EXPECT_TRUE(after.semaphores.empty());
  EXPECT_EQ(after.token_high_water, 0u);
  EXPECT_EQ(after.last_session, 0u);
}

TEST(MemoryStoreTest, DescribesThatStateIsLost) {
  EXPECT_EQ(MemoryStore().Describe(), "in memory: state is lost on restart");
}

}  // namespace
}  // namespace semaphored::store
