// AnswerBatch: work deferred while a batch is open runs once per key, in order, when
// it closes, and only on the thread that opened it.

#include "engine/answer_batch.h"

#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace semaphored::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(AnswerBatchTest, WithoutABatchNothingIsDeferred) {
  EXPECT_FALSE(AnswerBatch::Open());
  bool ran = false;
  EXPECT_FALSE(AnswerBatch::Defer(&ran, [&] { ran = true; }));
  EXPECT_FALSE(ran) << "the caller does the work itself";
}

TEST(AnswerBatchTest, WorkRunsOncePerKeyInOrderWhenTheBatchCloses) {
  std::vector<std::string> log;
  int a = 0;
  int b = 0;
  {
    AnswerBatch batch;
    EXPECT_TRUE(AnswerBatch::Open());
    EXPECT_TRUE(AnswerBatch::Defer(&a, [&] { log.push_back("a"); }));
    EXPECT_TRUE(AnswerBatch::Defer(&b, [&] { log.push_back("b"); }));
    EXPECT_TRUE(AnswerBatch::Defer(&a, [&] { log.push_back("a again"); }));
    EXPECT_THAT(log, IsEmpty());
  }
  EXPECT_THAT(log, ElementsAre("a", "b"));
  EXPECT_FALSE(AnswerBatch::Open());
}

TEST(AnswerBatchTest, WorkRunsWithTheBatchClosedAndNestedBatchesDeferToTheOutermost) {
  std::vector<std::string> log;
  int a = 0;
  {
    AnswerBatch outer;
    {
      AnswerBatch inner;
      AnswerBatch::Defer(&a, [&] {
        // Closed while it runs: what it would defer, it does itself.
        log.push_back(AnswerBatch::Open() ? "open" : "closed");
      });
    }
    EXPECT_THAT(log, IsEmpty()) << "the inner batch closing runs nothing";
  }
  EXPECT_THAT(log, ElementsAre("closed"));
}

TEST(AnswerBatchTest, ABatchIsOpenOnlyOnItsOwnThread) {
  AnswerBatch batch;
  bool open_elsewhere = true;
  std::thread other([&] { open_elsewhere = AnswerBatch::Open(); });
  other.join();
  EXPECT_FALSE(open_elsewhere);
}

}  // namespace
}  // namespace semaphored::engine
