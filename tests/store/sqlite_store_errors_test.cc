// SqliteStore's errors: a data dir that is newer, corrupt, foreign, unreadable or in
// use, and a batch that contradicts the stored state (rolled back without a trace).
#include <fcntl.h>
#include <grp.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/sqlite_schema.h"
#include "store/sqlite_store.h"
#include "tests/common/status_matchers.h"
#include "tests/store/store_model.h"

namespace semaphored::store {
namespace {

using ::semaphored::store::testing::Dump;
using ::semaphored::store::testing::ReplaceEverything;
using ::semaphored::store::testing::StoreModel;
using ::semaphored::store::testing::TempDir;
using ::semaphored::testing::IsOk;
using ::semaphored::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

// Runs `sql` on the database file at `path` with plain SQLite (no store).
void RawSql(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
}

void WriteFile(const std::string& path, const std::string& bytes, off_t offset = 0,
               bool truncate = true) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | (truncate ? O_TRUNC : 0), 0600);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(pwrite(fd, bytes.data(), bytes.size(), offset),
            static_cast<ssize_t>(bytes.size()));
  close(fd);
}

TEST(SqliteStoreErrorsTest, NewerFormatIsRefused) {
  TempDir tmp;
  ASSERT_THAT(SqliteStore::Open(tmp.path()).status(), IsOk());
  RawSql(tmp.path() + "/semaphored.db", "PRAGMA user_version = 99");
  EXPECT_THAT(SqliteStore::Open(tmp.path()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr(absl::StrCat("data dir ", tmp.path(),
                                              " has format 99; this semaphored reads up to ",
                                              kSqliteFormat))));
}

TEST(SqliteStoreErrorsTest, FileThatIsNotADatabaseIsDataLoss) {
  TempDir tmp;
  WriteFile(tmp.path() + "/semaphored.db", std::string(8192, 'j'));
  EXPECT_THAT(SqliteStore::Open(tmp.path()),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr(absl::StrCat("data dir file ", tmp.path(),
                                              "/semaphored.db is corrupt"))));
}

TEST(SqliteStoreErrorsTest, DamagedPagesAreDataLoss) {
  TempDir tmp;
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteStore> store, SqliteStore::Open(tmp.path()));
    ASSERT_THAT(store->Commit(ReplaceEverything(StoreModel(), 3000)), IsOk());
  }  // closing checkpoints the log into the file
  const std::string db = tmp.path() + "/semaphored.db";
  struct stat st;
  ASSERT_EQ(stat(db.c_str(), &st), 0);
  ASSERT_GT(st.st_size, 40 * 4096);
  // The header (page 1) stays intact: the damage is inside the tables.
  for (off_t page = 4; page < 40; page += 3) {
    WriteFile(db, std::string(4096, '\xab'), page * 4096, /*truncate=*/false);
  }
  EXPECT_THAT(SqliteStore::Open(tmp.path()),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr(absl::StrCat("data dir file ", db, " is corrupt"))));
}

TEST(SqliteStoreErrorsTest, ForeignSqliteDatabaseIsRefused) {
  TempDir tmp;
  RawSql(tmp.path() + "/semaphored.db", "CREATE TABLE photos (id INTEGER)");
  EXPECT_THAT(SqliteStore::Open(tmp.path()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is a SQLite database but not semaphored's")));
}

// Fails for root too (unlike a mode): the path cannot be a directory at all.
TEST(SqliteStoreErrorsTest, PathUnderARegularFileNamesPathAndErrno) {
  TempDir tmp;
  const std::string file = tmp.path() + "/file";
  WriteFile(file, "x");
  EXPECT_THAT(SqliteStore::Open(file + "/data"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("cannot create data dir " + file + "/data"),
                             HasSubstr("errno 20"))));
  EXPECT_THAT(SqliteStore::Open(file),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("data dir " + file + " is not a directory")));
}

// Opens a store in `dir`, makes its file and then the dir unreadable, and checks the
// errors; returns what went wrong, or "" when all is as expected.
std::string CheckUnreadableDirAndFile(const std::string& dir) {
  if (!SqliteStore::Open(dir).ok()) return "the first open failed";
  if (chmod((dir + "/semaphored.db").c_str(), 0) != 0) return "chmod of the file failed";
  absl::Status file = SqliteStore::Open(dir).status();
  if (file.code() != absl::StatusCode::kFailedPrecondition ||
      !absl::StrContains(file.message(), dir + "/semaphored.db") ||
      !absl::StrContains(file.message(), "errno 13")) {
    return absl::StrCat("unreadable file: ", file.ToString());
  }
  if (chmod(dir.c_str(), 0) != 0) return "chmod of the dir failed";
  absl::Status d = SqliteStore::Open(dir).status();
  chmod(dir.c_str(), 0700);
  if (d.code() != absl::StatusCode::kFailedPrecondition ||
      !absl::StrContains(d.message(), "data dir " + dir) ||
      !absl::StrContains(d.message(), "errno 13")) {
    return absl::StrCat("unreadable dir: ", d.ToString());
  }
  return "";
}

// Root ignores file modes, so as root the checks run in a child process that drops
// to the unprivileged user 65534 (nobody) first.
TEST(SqliteStoreErrorsTest, UnreadableDirOrFileNamesPathAndErrno) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/data";
  if (geteuid() != 0) {
    EXPECT_EQ(CheckUnreadableDirAndFile(dir), "");
    return;
  }
  constexpr uid_t kNobody = 65534;
  ASSERT_EQ(chown(tmp.path().c_str(), kNobody, kNobody), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (setgroups(0, nullptr) != 0 || setgid(kNobody) != 0 || setuid(kNobody) != 0) {
      _exit(2);
    }
    const std::string failure = CheckUnreadableDirAndFile(dir);
    if (!failure.empty()) {
      fprintf(stderr, "%s\n", failure.c_str());
      _exit(1);
    }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the child was killed by signal " << WTERMSIG(status);
  EXPECT_NE(WEXITSTATUS(status), 2) << "could not drop to uid " << kNobody;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "see the child's line above";
}

TEST(SqliteStoreErrorsTest, SecondOpenerInTheSameProcessIsRefused) {
  TempDir tmp;
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteStore> first, SqliteStore::Open(tmp.path()));
    EXPECT_THAT(SqliteStore::Open(tmp.path()),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         HasSubstr(absl::StrCat("data dir ", tmp.path(),
                                                " is in use by another semaphored (pid ",
                                                getpid(), ")"))));
  }
  EXPECT_THAT(SqliteStore::Open(tmp.path()).status(), IsOk());
}

// Each batch starts with valid effects and ends with one that contradicts the stored
// state: the commit fails naming that effect, nothing of the batch is kept, and the
// store keeps working.
TEST(SqliteStoreErrorsTest, BatchContradictingTheStateLeavesNoTrace) {
  const absl::Time t = absl::FromUnixSeconds(1'800'000'000);
  auto outcome = [](engine::SessionId session, uint64_t seq) {
    engine::CommandOutcome o;
    o.session = session;
    o.seq = seq;
    o.kind = engine::CommandKind::kClear;
    o.released = 1;
    return o;
  };
  struct Case {
    const char* what;
    engine::Effect bad;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"holder of a semaphore never created", engine::HolderAdded{"never", 1, 1, 9, t},
       "FOREIGN KEY"},
      {"holder for a session not stored", engine::HolderAdded{"a", 77, 1, 9, t},
       "FOREIGN KEY"},
      {"waiter on a semaphore never created",
       engine::WaiterQueued{6, "never", 1, false, 1, t, t}, "FOREIGN KEY"},
      {"holder removed that does not hold", engine::HolderRemoved{"a", 9},
       "it is not stored"},
      {"unknown waiter removed", engine::WaiterRemoved{99}, "it is not stored"},
      {"unknown session ended", engine::SessionEnded{99}, "it is not stored"},
      {"unknown semaphore erased", engine::SemaphoreErased{"never"}, "it is not stored"},
      {"semaphore erased while held", engine::SemaphoreErased{"a"}, "FOREIGN KEY"},
      {"session ended while holding", engine::SessionEnded{1}, "FOREIGN KEY"},
      {"semaphore created twice", engine::SemaphoreCreated{"a", 1}, "UNIQUE"},
      {"session opened twice",
       engine::SessionOpened{1, "s", "c", "p", absl::Seconds(1)}, "UNIQUE"},
      {"waiter id queued twice", engine::WaiterQueued{5, "a", 1, true, 0, t, t}, "UNIQUE"},
      {"outcome of a session not stored", outcome(77, 1), "FOREIGN KEY"},
      {"outcome kept twice", outcome(1, 3), "UNIQUE"},
      {"unknown outcome acknowledged", engine::CommandsAcked{1, {8}}, "it is not stored"},
  };
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteStore> store, SqliteStore::Open(tmp.path()));
  StoreModel model;
  engine::EffectBatch base;
  base.effects = {engine::SessionOpened{1, "secret", "c", "p", absl::Seconds(10)},
                  engine::SemaphoreCreated{"a", 2},
                  engine::HolderAdded{"a", 1, 1, 1, t},
                  engine::WaiterQueued{5, "a", 1, false, 2, absl::InfiniteFuture(), t},
                  engine::TokenHighWater{1}, outcome(1, 3)};
  ASSERT_THAT(store->Commit(base), IsOk());
  model.Apply(base);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    engine::EffectBatch batch;
    batch.effects = {engine::SessionOpened{9, "s9", "c", "p", absl::Seconds(10)},
                     engine::SemaphoreCreated{"b", 1},
                     engine::HolderAdded{"b", 9, 1, 2, t},
                     engine::TokenHighWater{2},
                     c.bad};
    EXPECT_THAT(store->Commit(batch),
                StatusIs(absl::StatusCode::kInternal,
                         AllOf(HasSubstr("effect 5 of 5 ("), HasSubstr(c.message),
                               HasSubstr("the batch was not committed"))));
    ASSERT_OK_AND_ASSIGN(engine::StoredState loaded, store->Load());
    EXPECT_EQ(Dump(loaded), Dump(model.State()));
  }
  // Still working after the rollbacks, and the same after a reopen.
  engine::EffectBatch good;
  good.effects = {engine::HolderRemoved{"a", 1}, engine::WaiterRemoved{5},
                  engine::SemaphoreErased{"a"}, engine::SessionEnded{1}};
  ASSERT_THAT(store->Commit(good), IsOk());
  model.Apply(good);
  store.reset();
  ASSERT_OK_AND_ASSIGN(store, SqliteStore::Open(tmp.path()));
  ASSERT_OK_AND_ASSIGN(engine::StoredState loaded, store->Load());
  EXPECT_EQ(Dump(loaded), Dump(model.State()));
  EXPECT_EQ(loaded.last_waiter, 5u);  // high-waters outlive what they counted
  EXPECT_EQ(loaded.last_session, 1u);
}

}  // namespace
}  // namespace semaphored::store
