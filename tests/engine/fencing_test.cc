// Tests of the fencing token sources: the in-memory counter and the durable one across restarts.

#include "engine/counter_token_source.h"
#include "engine/durable_token_source.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/status_matchers.h"

namespace semaphored::internal {

using engine::CounterTokenSource;
using engine::DurableTokenSource;
using engine::kMaxFencingToken;

namespace {

using ::semaphored::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::string TempPath(const std::string& leaf) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string base = dir ? dir : "/tmp";
  return base + "/fencing_test_" + std::to_string(::getpid()) + "_" + leaf;
}

MATCHER_P(IsToken, token, "is OK with token " + std::to_string(token)) {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  *result_listener << "token is " << *arg;
  return *arg == token;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
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
      ASSERT_OK_AND_ASSIGN(uint64_t t, source->Next());
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
  ASSERT_OK_AND_ASSIGN(uint64_t token, source->Next());
  EXPECT_GT(token, static_cast<uint64_t>(absl::ToUnixMicros(now)));
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
  EXPECT_THAT(source.Next(), IsToken(42u));
  EXPECT_THAT(source.Next(), IsToken(43u));
}

TEST(CounterTokenSourceTest, RefusesPastTheLargestTokenInsteadOfWrapping) {
  CounterTokenSource source(kMaxFencingToken - 1);
  EXPECT_THAT(source.Next(), IsToken(kMaxFencingToken));
  for (int i = 0; i < 3; ++i) {
    EXPECT_THAT(source.Next(), StatusIs(absl::StatusCode::kResourceExhausted,
                                        HasSubstr("fencing tokens are exhausted")));
  }
}

TEST(DurableTokenSourceTest, RefusesPastTheLargestTokenAndNeverRecordsAWrap) {
  const std::string path = TempPath("near_max");
  std::ofstream(path) << "next_fencing_token " << kMaxFencingToken - 3 << "\n";
  ASSERT_OK_AND_ASSIGN(auto source,
                       DurableTokenSource::Open(path, absl::Now(), /*block_size=*/2));
  EXPECT_THAT(source->Next(), IsToken(kMaxFencingToken - 2));
  EXPECT_THAT(source->Next(), IsToken(kMaxFencingToken - 1));
  EXPECT_THAT(source->Next(), IsToken(kMaxFencingToken));
  EXPECT_THAT(source->Next(), StatusIs(absl::StatusCode::kResourceExhausted,
                                       HasSubstr("fencing tokens are exhausted")));
  EXPECT_EQ(ReadAll(path),
            absl::StrCat("next_fencing_token ", std::numeric_limits<uint64_t>::max(), "\n"));
  // A restart from that file does not start over either.
  EXPECT_THAT(DurableTokenSource::Open(path, absl::Now()),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("--state_file")));
  std::remove(path.c_str());
}

TEST(DurableTokenSourceTest, RefusesAStateFileThatIsASymbolicLink) {
  const std::string path = TempPath("link");
  const std::string victim = TempPath("victim");
  std::remove(path.c_str());
  std::ofstream(victim) << "precious\n";
  ASSERT_EQ(::symlink(victim.c_str(), path.c_str()), 0);
  EXPECT_THAT(DurableTokenSource::Open(path, absl::Now()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr(path), HasSubstr("symbolic link"))));
  EXPECT_EQ(ReadAll(victim), "precious\n");
  std::remove(path.c_str());
  std::remove(victim.c_str());
}

TEST(DurableTokenSourceTest, ALinkPlantedLaterIsNotWrittenThrough) {
  const std::string path = TempPath("planted");
  const std::string victim = TempPath("planted_victim");
  std::remove(path.c_str());
  std::ofstream(victim) << "precious\n";
  // The old fixed temporary name, planted too: a new temporary is never opened there.
  const std::string old_tmp = path + ".tmp";
  std::remove(old_tmp.c_str());
  ASSERT_EQ(::symlink(victim.c_str(), old_tmp.c_str()), 0);
  ASSERT_OK_AND_ASSIGN(auto source,
                       DurableTokenSource::Open(path, absl::Now(), /*block_size=*/2));
  ASSERT_OK_AND_ASSIGN(uint64_t first, source->Next());
  struct stat st;
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // Replace the state file with a link: the next reservation refuses it (durability
  // is lost, reported on stderr) and tokens still increase.
  std::remove(path.c_str());
  ASSERT_EQ(::symlink(victim.c_str(), path.c_str()), 0);
  uint64_t last = first;
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK_AND_ASSIGN(uint64_t t, source->Next());
    EXPECT_GT(t, last);
    last = t;
  }
  EXPECT_EQ(ReadAll(victim), "precious\n");
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode)) << "the link was neither followed nor replaced";
  std::remove(path.c_str());
  std::remove(old_tmp.c_str());
  std::remove(victim.c_str());
}

}  // namespace
}  // namespace semaphored::internal
