#include "tests/torture/workers.h"

#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/torture/process.h"

namespace semaphored::torture {

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* value = std::getenv(name);
  int64_t parsed = 0;
  return value != nullptr && absl::SimpleAtoi(value, &parsed) ? parsed : fallback;
}

RunDir::RunDir(const std::string& prefix) {
  std::string dir = absl::StrCat(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp", "/",
                                 prefix, "_XXXXXX");
  if (mkdtemp(dir.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp " << dir << ": " << std::strerror(errno);
    return;
  }
  path_ = dir;
}

RunDir::~RunDir() {
  if (path_.empty()) return;
  if (!::testing::Test::HasFailure() && std::getenv("SEMAPHORED_TORTURE_KEEP") == nullptr) {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  } else {
    std::printf("torture: files kept in %s\n", path_.c_str());
  }
}

int AwaitPort(const std::string& path, absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  while (absl::Now() < give_up) {
    std::ifstream in(path);
    int port = 0;
    if (in >> port && port > 0) return port;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return 0;
}

int64_t CallsAcrossOutages(const History& history, const std::vector<Outage>& outages) {
  int64_t n = 0;
  for (const Op& op : history.ops) {
    if (op.thread < 0 || !op.ended() || op.result == OpResult::kError) continue;
    for (const Outage& outage : outages) {
      if (op.start_ns < outage.down_ns && op.end_ns > outage.up_ns) {
        ++n;
        break;
      }
    }
  }
  return n;
}

WorkerPool::~WorkerPool() {
  for (pid_t pid : running_) KillAndReap(pid);
}

void WorkerPool::Start(int64_t end_ns) {
  const std::string history = absl::StrCat(dir_, "/history.", histories_.size());
  absl::StatusOr<pid_t> pid =
      Spawn({TORTURE_WORKER, address_, history, absl::StrCat(rng_()), absl::StrCat(threads_),
             absl::StrCat(end_ns)},
            dir_ + "/workers.log");
  ASSERT_TRUE(pid.ok()) << pid.status();
  running_.push_back(*pid);
  histories_.push_back({history, *pid});
}

void WorkerPool::CrashOne(int64_t end_ns) {
  ASSERT_FALSE(running_.empty());
  const size_t victim = rng_() % running_.size();
  const pid_t pid = running_[victim];
  const int64_t kill_ns = MonotonicNanos();
  killed_.insert(pid);
  KillAndReap(pid);
  Record(OpKind::kCrash, pid, kill_ns);
  running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(victim));
  ++crashes_;
  Start(end_ns);
}

void WorkerPool::WaitAll(int64_t end_ns) {
  for (pid_t pid : running_) {
    const absl::Duration left = absl::Nanoseconds(end_ns - MonotonicNanos()) + absl::Seconds(30);
    std::optional<int> status = WaitForExit(pid, std::max(left, absl::Seconds(1)));
    if (!status) {
      const int64_t kill_ns = MonotonicNanos();
      KillAndReap(pid);
      Record(OpKind::kStuck, pid, kill_ns);
      ADD_FAILURE() << "worker " << pid << " did not finish; killed";
    } else {
      EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
          << "worker " << pid << " ended with status " << *status << "; see " << dir_
          << "/workers.log";
    }
  }
  running_.clear();  // every one reaped
}

History WorkerPool::Collect() const {
  History history = parent_;
  for (const auto& [path, pid] : histories_) {
    // A worker killed right after it started may not have created its file yet.
    if (killed_.contains(pid) && !std::filesystem::exists(path)) continue;
    absl::Status s = ReadHistoryFile(path, &history);
    EXPECT_TRUE(s.ok()) << s;
  }
  return history;
}

void WorkerPool::Record(OpKind kind, pid_t pid, int64_t kill_ns) {
  Op op;
  op.pid = pid;
  op.thread = -1;
  op.seq = static_cast<int64_t>(parent_.ops.size());
  op.kind = kind;
  op.start_ns = kill_ns;
  op.end_ns = MonotonicNanos();
  op.result = OpResult::kOk;
  parent_.ops.push_back(op);
}

}  // namespace semaphored::torture
