// Tests of the durable file: atomic private replacement, no symbolic links followed, clear errors.

#include "common/durable_file.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/status_matchers.h"

namespace semaphored::internal {
namespace {

using ::semaphored::testing::IsOk;
using ::semaphored::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A fresh directory per test, removed with what is left in it (flat).
class DurableFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("TEST_TMPDIR");
    std::string tmpl = std::string(base ? base : "/tmp") + "/durable_file_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const std::string& name : Entries()) std::remove((dir_ + "/" + name).c_str());
    ::rmdir(dir_.c_str());
  }
  std::vector<std::string> Entries() const {
    std::vector<std::string> names;
    if (DIR* d = ::opendir(dir_.c_str())) {
      while (dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name != "." && name != "..") names.push_back(name);
      }
      ::closedir(d);
    }
    std::sort(names.begin(), names.end());
    return names;
  }
  static std::string ReadAll(const std::string& path) {
    std::ifstream in(path);
    std::stringstream buf;
    buf << in.rdbuf();
    return buf.str();
  }
  std::string dir_;
};

TEST_F(DurableFileTest, WritesAndReplacesAPrivateRegularFileLeavingNoTemporary) {
  const std::string path = dir_ + "/state";
  ASSERT_THAT(WriteFileDurably(path, "one\n", "test file"), IsOk());
  ASSERT_THAT(WriteFileDurably(path, "two\n", "test file"), IsOk());
  EXPECT_EQ(ReadAll(path), "two\n");
  struct stat st;
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_THAT(Entries(), ElementsAre("state"));
  ASSERT_OK_AND_ASSIGN(std::string read, ReadFileNoFollow(path, "test file"));
  EXPECT_EQ(read, "two\n");
}

TEST_F(DurableFileTest, RefusesToWriteOrReadThroughASymbolicLink) {
  const std::string victim = dir_ + "/victim";
  std::ofstream(victim) << "precious\n";
  struct Case {
    const char* name;
    std::string target;
  };
  for (const Case& c : {Case{"to a file", victim}, Case{"dangling", dir_ + "/nowhere"}}) {
    SCOPED_TRACE(c.name);
    const std::string link = dir_ + "/link";
    std::remove(link.c_str());
    ASSERT_EQ(::symlink(c.target.c_str(), link.c_str()), 0);
    EXPECT_THAT(
        WriteFileDurably(link, "evil\n", "test file"),
        StatusIs(absl::StatusCode::kFailedPrecondition,
                 AllOf(HasSubstr("test file"), HasSubstr(link), HasSubstr("symbolic link"))));
    EXPECT_THAT(ReadFileNoFollow(link, "test file"),
                StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("symbolic link")));
    EXPECT_EQ(ReadAll(victim), "precious\n");
    struct stat st;
    EXPECT_NE(::stat((dir_ + "/nowhere").c_str(), &st), 0) << "the dangling link was followed";
    std::remove(link.c_str());
  }
  EXPECT_THAT(Entries(), ElementsAre("victim"));
}

TEST_F(DurableFileTest, RefusesADirectoryAndReportsAMissingFile) {
  const std::string sub = dir_ + "/sub";
  ASSERT_EQ(::mkdir(sub.c_str(), 0700), 0);
  EXPECT_THAT(
      WriteFileDurably(sub, "x", "test file"),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not a regular file")));
  EXPECT_THAT(ReadFileNoFollow(dir_ + "/missing", "test file"),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(WriteFileDurably(dir_ + "/no/such/dir", "x", "test file"),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("/no/such/dir")));
  ::rmdir(sub.c_str());
}

}  // namespace
}  // namespace semaphored::internal
