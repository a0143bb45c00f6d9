// The torture test: the real semaphored binary (with --trace_file), PROCESSES worker
// processes (torture_worker) of THREADS threads each running random operations for
// SECONDS, one of them SIGKILLed now and then and replaced; then the server drains,
// and the merged history is checked (checker.h). Fails on any violation. Runs three
// times: against the server in memory; against the durable one (--data_dir: every
// answer waits for its commit, answers are given in batches by the committer); and
// against the durable one stopped and started again on the same port and data
// directory during the run (SIGKILL, SIGTERM, or SIGSTOP for a second then SIGCONT, in
// turn), the workers' sessions resuming across each restart.
//
// Across restarts every server process appends to the one trace file, and a restarted
// one first records the state it restored (holders, and queues in their order): the
// checker's replay goes on from that state, so FIFO, limits and tokens are checked
// across restarts as within a run, the restored queues must keep the order in which
// their requests were queued, and no grant a client was told of may be undone by a
// restart (records reach the file before their batch commits). The last server drains
// keeping its state, so what sessions of killed workers hold at the end is no loss.
//
// Environment (all optional):
//   SEMAPHORED_TORTURE_SECONDS    run time (default 10)
//   SEMAPHORED_TORTURE_PROCESSES  worker processes at a time (default 3)
//   SEMAPHORED_TORTURE_THREADS    threads (sessions) per worker (default 4)
//   SEMAPHORED_TORTURE_CRASHES    SIGKILLs during the run (default SECONDS / 3)
//   SEMAPHORED_TORTURE_RESTARTS   server faults in the restart run (default SECONDS / 3)
//   SEMAPHORED_TORTURE_SEED       the seed (default: from the clock; printed)
//   SEMAPHORED_TORTURE_KEEP       keep the work directory (histories, trace, logs)

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/torture/checker.h"
#include "tests/torture/history.h"
#include "tests/torture/process.h"
#include "tests/torture/workers.h"

namespace semaphored::torture {
namespace {

struct Config {
  int64_t seconds = EnvInt("SEMAPHORED_TORTURE_SECONDS", 10);
  int64_t processes = EnvInt("SEMAPHORED_TORTURE_PROCESSES", 3);
  int64_t threads = EnvInt("SEMAPHORED_TORTURE_THREADS", 4);
  int64_t crashes = EnvInt("SEMAPHORED_TORTURE_CRASHES", seconds / 3);
  uint64_t seed = static_cast<uint64_t>(
      EnvInt("SEMAPHORED_TORTURE_SEED", absl::ToUnixMicros(absl::Now()) % 1'000'000'007));
  bool durable = false;  // the server gets a --data_dir
  int64_t server_faults = 0;  // during the run (durable only)
};

// The server faults of the restart run, in turn.
enum class ServerFault { kKill, kTerm, kStop };
constexpr ServerFault kServerFaults[] = {ServerFault::kKill, ServerFault::kTerm,
                                         ServerFault::kStop};

const char* FaultName(ServerFault fault) {
  switch (fault) {
    case ServerFault::kKill: return "SIGKILL";
    case ServerFault::kTerm: return "SIGTERM";
    case ServerFault::kStop: return "SIGSTOP";
  }
  return "?";
}

class TortureRun {
 public:
  TortureRun(const Config& config, std::string dir)
      : config_(config), dir_(std::move(dir)), rng_(config.seed),
        workers_(dir_, config.threads, rng_) {}
  // A run cut short by a failed assertion leaves no process behind.
  ~TortureRun() {
    if (server_ > 0) KillAndReap(server_);
  }

  // Starts the server on an ephemeral port, or, after a restart, on the port it had.
  void StartServer() {
    const std::string port_file = dir_ + "/port";
    std::filesystem::remove(port_file);
    std::vector<std::string> argv = {
        SEMAPHORED_BINARY,
        absl::StrCat("--listen=127.0.0.1:", port_),
        "--port_file=" + port_file,
        "--state_file=",
    };
    argv.push_back("--trace_file=" + dir_ + "/trace");
    if (config_.durable) argv.push_back("--data_dir=" + dir_ + "/data");
    absl::StatusOr<pid_t> pid = Spawn(argv, dir_ + "/server.log");
    ASSERT_TRUE(pid.ok()) << pid.status();
    server_ = *pid;
    const int port = AwaitPort(port_file);
    ASSERT_NE(port, 0) << "the server did not start; see " << dir_ << "/server.log";
    port_ = port;
    workers_.set_address(absl::StrCat("127.0.0.1:", port));
  }

  // The next server fault: SIGKILL or SIGTERM and a start on the same port and data
  // directory, or SIGSTOP for a second and SIGCONT. Records when the server was out.
  void FaultServer() {
    const ServerFault fault = kServerFaults[outages_.size() % std::size(kServerFaults)];
    const int64_t down_ns = MonotonicNanos();
    if (fault == ServerFault::kStop) {
      ASSERT_EQ(kill(server_, SIGSTOP), 0);
      absl::SleepFor(absl::Seconds(1));
      ASSERT_EQ(kill(server_, SIGCONT), 0);
    } else if (fault == ServerFault::kKill) {
      KillAndReap(std::exchange(server_, -1));
    } else {
      ASSERT_NO_FATAL_FAILURE(StopServer());
    }
    if (fault != ServerFault::kStop) {
      ASSERT_NO_FATAL_FAILURE(StartServer());
    }
    outages_.push_back({FaultName(fault), down_ns, MonotonicNanos()});
  }

  // Runs the workers until the end, SIGKILLing one (and starting another) or faulting
  // the server at random moments; then waits for the workers (bounded) and drains the
  // server.
  void Run() {
    const int64_t start_ns = MonotonicNanos();
    const int64_t end_ns = start_ns + config_.seconds * 1'000'000'000;
    for (int64_t i = 0; i < config_.processes; ++i) workers_.Start(end_ns);
    // Fault moments (true: the server), spread over the run but not in its last second.
    std::vector<std::pair<int64_t, bool>> faults;
    const int64_t span = std::max<int64_t>(1, end_ns - 1'000'000'000 - start_ns);
    auto moment = [&] {
      return start_ns + static_cast<int64_t>(rng_() % static_cast<uint64_t>(span));
    };
    for (int64_t i = 0; i < config_.crashes; ++i) faults.push_back({moment(), false});
    for (int64_t i = 0; i < config_.server_faults; ++i) faults.push_back({moment(), true});
    std::sort(faults.begin(), faults.end());
    for (const auto& [at, server] : faults) {
      absl::SleepFor(absl::Nanoseconds(std::max<int64_t>(0, at - MonotonicNanos())));
      if (server) {
        ASSERT_NO_FATAL_FAILURE(FaultServer());
        continue;
      }
      ASSERT_NO_FATAL_FAILURE(workers_.CrashOne(end_ns));
    }
    workers_.WaitAll(end_ns);
    ASSERT_NO_FATAL_FAILURE(StopServer());
  }

  // SIGTERM: the server drains and must exit 0 (SIGKILLed after 20 s).
  void StopServer() {
    kill(server_, SIGTERM);
    std::optional<int> status = WaitForExit(server_, absl::Seconds(20));
    if (!status) KillAndReap(server_);
    server_ = -1;
    ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
        << "the server did not drain cleanly; see " << dir_ << "/server.log";
  }

  History Collect() {
    History history = workers_.Collect();
    absl::Status s = ReadTraceFile(dir_ + "/trace", &history);
    EXPECT_TRUE(s.ok()) << s;
    return history;
  }

  int crashes() const { return workers_.crashes(); }
  int server_faults() const { return static_cast<int>(outages_.size()); }
  std::string faults_done() const {  // "SIGKILL, ..."
    std::vector<std::string> names;
    for (const Outage& outage : outages_) names.push_back(outage.fault);
    return absl::StrJoin(names, ", ");
  }
  const std::vector<Outage>& outages() const { return outages_; }

 private:
  const Config config_;
  const std::string dir_;
  std::mt19937_64 rng_;
  WorkerPool workers_;
  pid_t server_ = -1;
  int port_ = 0;  // 0 until the server first started
  std::vector<Outage> outages_;
};

void RunTorture(const Config& config) {
  std::printf("torture: %s server, seed %llu, %lld s, %lld processes x %lld threads, "
              "%lld crashes, %lld server faults (replay: SEMAPHORED_TORTURE_SEED=%llu)\n",
              config.durable ? "durable" : "in-memory",
              static_cast<unsigned long long>(config.seed), static_cast<long long>(config.seconds),
              static_cast<long long>(config.processes), static_cast<long long>(config.threads),
              static_cast<long long>(config.crashes), static_cast<long long>(config.server_faults),
              static_cast<unsigned long long>(config.seed));
  ASSERT_TRUE(config.server_faults == 0 || config.durable);
  ASSERT_GE(config.processes, 1);
  ASSERT_GE(config.threads, 1);
  RunDir work("semaphored_torture");
  ASSERT_FALSE(work.path().empty());
  const std::string& dir = work.path();

  TortureRun run(config, dir);
  ASSERT_NO_FATAL_FAILURE(run.StartServer());
  ASSERT_NO_FATAL_FAILURE(run.Run());
  const History history = run.Collect();
  CheckOptions options;
  if (config.server_faults > 0) {
    options.allowed_open_errors = {absl::StatusCode::kUnavailable};
    options.trace_complete = false;  // the last server keeps its state (see the top)
  }
  const CheckReport report = CheckHistory(history, options);

  const int64_t across = CallsAcrossOutages(history, run.outages());
  std::printf("torture: %s; crashes %d; server faults %d (%s); calls across them %lld\n",
              report.Summary().c_str(), run.crashes(), run.server_faults(),
              run.faults_done().c_str(), static_cast<long long>(across));
  for (const std::string& m : report.messages) std::printf("  violation: %s\n", m.c_str());
  std::fflush(stdout);
  EXPECT_EQ(report.violations, 0) << "seed " << config.seed << "; files in " << dir;
  // The run must have done real work for its verdict to mean anything.
  EXPECT_GT(report.ops_checked, 100 * config.seconds);
  EXPECT_GT(report.client_grants, 10 * config.seconds);
  EXPECT_EQ(run.crashes(), config.crashes);
  EXPECT_EQ(run.server_faults(), config.server_faults);
  EXPECT_GT(report.server_grants, 10 * config.seconds);
  EXPECT_GT(report.server_queued, 0);
  if (config.server_faults > 0) {
    EXPECT_GT(report.server_restores, 0) << "no restarted server restored a state";
    EXPECT_GT(across, 0) << "no call was in flight across a server fault";
  }
}

TEST(TortureTest, RandomOperationsAcrossProcessesKeepEveryPromise) {
  ASSERT_NO_FATAL_FAILURE(RunTorture(Config()));
}

TEST(TortureTest, RandomOperationsAgainstADurableServerKeepEveryPromise) {
  Config config;
  config.durable = true;
  ASSERT_NO_FATAL_FAILURE(RunTorture(config));
}

TEST(TortureTest, RandomOperationsAcrossServerRestartsKeepEveryPromise) {
  Config config;
  config.durable = true;
  config.server_faults = EnvInt("SEMAPHORED_TORTURE_RESTARTS", config.seconds / 3);
  ASSERT_NO_FATAL_FAILURE(RunTorture(config));
}

}  // namespace
}  // namespace semaphored::torture
