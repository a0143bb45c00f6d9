// SqliteStore under SIGKILL: a batch killed mid-commit is all-or-nothing, a data dir
// left by a killed process loads every committed batch, and a second process cannot
// open a dir that is in use.
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/sqlite_store.h"
#include "tests/common/status_matchers.h"
#include "tests/store/store_model.h"

namespace semaphored::store {
namespace {

using ::semaphored::store::testing::Dump;
using ::semaphored::store::testing::RandomBatch;
using ::semaphored::store::testing::ReplaceEverything;
using ::semaphored::store::testing::StoreModel;
using ::semaphored::store::testing::TempDir;
using ::semaphored::testing::IsOk;
using ::semaphored::testing::StatusIs;
using ::testing::HasSubstr;

// A forked child running `body`, which talks to the parent through two pipes (one
// byte a message). The destructor SIGKILLs and reaps it if it is still running.
class Child {
 public:
  // `body(to_parent, from_parent)` runs in the child; its result is the exit code.
  explicit Child(std::function<int(int, int)> body) {
    int up[2], down[2];
    if (pipe(up) != 0 || pipe(down) != 0) {
      ADD_FAILURE() << "pipe failed";
      return;
    }
    pid_ = fork();
    if (pid_ == 0) {
      close(up[0]);
      close(down[1]);
      _exit(body(up[1], down[0]));  // never back into the test framework
    }
    close(up[1]);
    close(down[0]);
    from_child_ = up[0];
    to_child_ = down[1];
    if (pid_ < 0) ADD_FAILURE() << "fork failed";
  }
  ~Child() {
    if (pid_ > 0) Kill();
    close(from_child_);
    close(to_child_);
  }
  pid_t pid() const { return pid_; }
  // The next byte from the child; -1 on end of file or after `timeout`.
  int Read(std::chrono::milliseconds timeout) {
    pollfd p{from_child_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) != 1) return -1;
    char c;
    return read(from_child_, &c, 1) == 1 ? c : -1;
  }
  // SIGKILLs the child and reaps it; returns its wait status.
  int Kill() {
    kill(pid_, SIGKILL);
    return Wait();
  }
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
  int from_child_ = -1;
  int to_child_ = -1;
};

void Send(int fd, char c) { [[maybe_unused]] ssize_t n = write(fd, &c, 1); }

// Waits (bounded) for the parent to close its end or send a byte.
void AwaitParent(int fd) {
  pollfd p{fd, POLLIN, 0};
  poll(&p, 1, 30'000);
}

// A child that opens `dir`, says 'o', commits `batch`, says 'c', then waits for the
// parent. Exit codes say which step failed.
int CommitInChild(const std::string& dir, const engine::EffectBatch& batch, int up,
                  int down) {
  auto store = SqliteStore::Open(dir);
  if (!store.ok()) return 2;
  Send(up, 'o');
  if (!(*store)->Commit(batch).ok()) return 3;
  Send(up, 'c');
  AwaitParent(down);
  return 0;
}

// Many thousands of effects committed by a child that is SIGKILLed after a random
// delay around the commit's length (the window shrinks after a kill that came too
// late and grows after one that came early, so kills keep landing mid-commit): every
// reload is the state before or after the batch, never part of it. A child that
// reported its commit done must leave the state after it (durability).
TEST(SqliteStoreCrashTest, BatchKilledMidCommitIsAllOrNothing) {
  constexpr int kRounds = 16;
  constexpr int kCalibrationRounds = 2;
  constexpr int kSemaphoresPerBatch = 4000;  // 3 effects each, plus the removals
  TempDir tmp;
  std::mt19937_64 rng(42);
  StoreModel model;
  std::chrono::microseconds commit_time{0};
  // Kill delays are drawn from [0, window]; the window follows the commit's end.
  std::chrono::microseconds window{0};
  int before = 0, after = 0, done_before_kill = 0;
  size_t batch_size = 0;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(::testing::Message() << "round " << round);
    const engine::EffectBatch batch = ReplaceEverything(model, kSemaphoresPerBatch);
    batch_size = batch.effects.size();
    StoreModel next = model;
    next.Apply(batch);
    bool committed = false;
    {
      Child child([&](int up, int down) { return CommitInChild(tmp.path(), batch, up, down); });
      ASSERT_EQ(child.Read(std::chrono::seconds(20)), 'o');
      const auto start = std::chrono::steady_clock::now();
      if (round < kCalibrationRounds) {
        // These rounds measure the commit (the last one has the shape of the others:
        // it removes a batch's worth and adds as much), for the kill delays.
        ASSERT_EQ(child.Read(std::chrono::seconds(60)), 'c');
        commit_time = std::chrono::duration_cast<std::chrono::microseconds>(
            std::chrono::steady_clock::now() - start);
        committed = true;
        window = commit_time;
      } else {
        std::this_thread::sleep_for(
            std::chrono::microseconds(rng() % (window.count() + 1)));
      }
      const int status = child.Kill();
      ASSERT_TRUE(WIFSIGNALED(status)) << "the child exited with " << WEXITSTATUS(status);
      // A 'c' already sent means the commit returned before the kill.
      if (round >= kCalibrationRounds && child.Read(std::chrono::milliseconds(0)) == 'c') committed = true;
    }
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteStore> store, SqliteStore::Open(tmp.path()));
    ASSERT_OK_AND_ASSIGN(engine::StoredState loaded, store->Load());
    const std::string text = Dump(loaded);
    if (text == Dump(next.State())) {
      ++after;
      // Kills after the commit: aim earlier (the commit time varies with the load).
      window = window * 4 / 5;
      done_before_kill += committed ? 1 : 0;
      model = next;
    } else {
      ASSERT_FALSE(committed) << "a commit that returned OK was lost";
      ASSERT_EQ(text, Dump(model.State())) << "neither before nor after the batch";
      ++before;
      window = window * 5 / 4;
    }
  }
  std::printf("batch of %zu effects, commit %lld ms; %d rounds killed: %d before, %d after "
              "(%d of them had reported the commit done)\n",
              batch_size,
              static_cast<long long>(commit_time.count() / 1000),
              kRounds - kCalibrationRounds, before, after - kCalibrationRounds,
              done_before_kill - kCalibrationRounds);
}

// A process SIGKILLed after some commits (no close, the log not checkpointed) leaves a
// data dir that loads with every batch it committed.
TEST(SqliteStoreCrashTest, DirOfKilledProcessLoadsEveryCommittedBatch) {
  constexpr int kBatches = 25;
  TempDir tmp;
  std::mt19937_64 rng(7);
  StoreModel model;
  std::vector<engine::EffectBatch> batches;
  for (int i = 0; i < kBatches; ++i) {
    batches.push_back(RandomBatch(model, rng, 1 + static_cast<int>(rng() % 50)));
    model.Apply(batches.back());
  }
  Child child([&](int up, int down) {
    auto store = SqliteStore::Open(tmp.path());
    if (!store.ok()) return 2;
    for (const auto& batch : batches) {
      if (!(*store)->Commit(batch).ok()) return 3;
      Send(up, 'c');
    }
    AwaitParent(down);
    return 0;
  });
  for (int i = 0; i < kBatches; ++i) {
    ASSERT_EQ(child.Read(std::chrono::seconds(20)), 'c') << "batch " << i;
  }
  ASSERT_TRUE(WIFSIGNALED(child.Kill()));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteStore> store, SqliteStore::Open(tmp.path()));
  ASSERT_OK_AND_ASSIGN(engine::StoredState loaded, store->Load());
  EXPECT_EQ(Dump(loaded), Dump(model.State()));
  EXPECT_FALSE(loaded.semaphores.empty());
}

// Another process holding the dir: refused, naming the dir and that process's pid;
// once it is gone, the dir opens.
TEST(SqliteStoreCrashTest, SecondProcessIsRefusedWhileDirIsInUse) {
  TempDir tmp;
  {
    Child child([&](int up, int down) {
      auto store = SqliteStore::Open(tmp.path());
      if (!store.ok()) return 2;
      Send(up, 'o');
      AwaitParent(down);
      return 0;
    });
    ASSERT_EQ(child.Read(std::chrono::seconds(20)), 'o');
    EXPECT_THAT(SqliteStore::Open(tmp.path()),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         HasSubstr(absl::StrCat("data dir ", tmp.path(),
                                                " is in use by another semaphored (pid ",
                                                child.pid(), ")"))));
    child.Kill();
  }
  EXPECT_THAT(SqliteStore::Open(tmp.path()).status(), IsOk());
}

}  // namespace
}  // namespace semaphored::store
