#include "server/core/fencing.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/status_matchers.h"

namespace semaphored::internal {
namespace {

using ::semaphored::testing::StatusIs;
using ::testing::HasSubstr;

std::string TempPath(const std::string& leaf) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string base = dir ? dir : "/tmp";
  return base + "/fencing_test_" + std::to_string(::getpid()) + "_" + leaf;
}

TEST(DurableTokenSourceTest, TokensIncreaseAcrossRestarts) {
  const std::string path = TempPath("restart");
  std::remove(path.c_str());
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  uint64_t last = 0;
  for (int restart = 0; restart < 3; ++restart) {
    SCOPED_TRACE(restart);
    // The clock stands still (or goes back): only the state file keeps order.
    ASSERT_OK_AND_ASSIGN(auto source, DurableTokenSource::Open(path, t0, /*block_size=*/4));
    for (int i = 0; i < 10; ++i) {
      uint64_t t = source->Next();
      EXPECT_GT(t, last);
      last = t;
    }
  }
  std::remove(path.c_str());
}

TEST(DurableTokenSourceTest, StartsAboveTheClockWithoutAStateFile) {
  const std::string path = TempPath("clock");
  std::remove(path.c_str());
  const absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  ASSERT_OK_AND_ASSIGN(auto source, DurableTokenSource::Open(path, now));
  EXPECT_GT(source->Next(), static_cast<uint64_t>(absl::ToUnixMicros(now)));
  std::remove(path.c_str());
}

TEST(DurableTokenSourceTest, CorruptStateFileIsAnErrorNamingTheFile) {
  const std::string path = TempPath("corrupt");
  std::ofstream(path) << "garbage";
  EXPECT_THAT(DurableTokenSource::Open(path, absl::Now()),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr(path)));
  std::remove(path.c_str());
}

TEST(DurableTokenSourceTest, UnwritableStateFileIsAnError) {
  EXPECT_THAT(DurableTokenSource::Open("/nonexistent-dir/x/state", absl::Now()),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("/nonexistent-dir/x/state")));
}

TEST(CounterTokenSourceTest, CountsUpFromItsStart) {
  CounterTokenSource source(41);
  EXPECT_EQ(source.Next(), 42u);
  EXPECT_EQ(source.Next(), 43u);
}

}  // namespace
}  // namespace semaphored::internal
