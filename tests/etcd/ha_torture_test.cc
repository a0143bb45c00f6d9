// The torture workload across leaders: a real 3-member etcd cluster and 3 semaphored
// servers on loopback, torture_worker processes given the list of servers (the library
// follows the leader), and faults in turn while they run:
//   - SIGKILL of the leader (a standby takes over; the killed one starts again);
//   - SIGSTOP of the leader past its lease, then SIGCONT: by then another server
//     leads, and the stopped one must give no answer after resuming and step down
//     (exit 5; it is started again);
//   - an etcd member (not etcd's leader) SIGKILLed, and started again a second later;
//   - etcd's Raft leader SIGKILLed, and started again;
//   - every semaphored server SIGKILLed and started again;
// and, in a second run, a network namespace that cuts the leader off from etcd (and
// from its clients) past its lease, then lets it back.
//
// Each server process writes its own trace (--trace_file); the checker replays the
// leaderships one after another (ReadLeaderTraceFiles: what a deposed leader recorded
// after its successor's restore is left out, so a grant it gave after resuming would
// show up as a grant no server made), and verifies the whole history across leaders:
// exclusion within limits at every moment, tokens increasing, FIFO, no waiter lost,
// every re-sent command answered once. A server that exits on its own must have lost
// its leadership (exit 5) and is started again. The failover time of each SIGKILL of
// the leader (to the first grant by the next leader to a session it restored) is
// printed.
//
// Environment (all optional): SEMAPHORED_HA_TORTURE_SECONDS (default 45; the network
// run: a third of it, at least 20), SEMAPHORED_TORTURE_PROCESSES (3),
// SEMAPHORED_TORTURE_THREADS (4), SEMAPHORED_TORTURE_SEED, SEMAPHORED_TORTURE_KEEP.

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
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
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/etcd/etcd_cluster.h"
#include "tests/faults/netns.h"
#include "tests/faults/unary_client.h"
#include "tests/torture/checker.h"
#include "tests/torture/history.h"
#include "tests/torture/process.h"
#include "tests/torture/workers.h"

namespace semaphored::torture {
namespace {

using ::semaphored::testing::EtcdCluster;
using ::semaphored::testing::FreeLoopbackPort;
using ::semaphored::testing::UnaryClient;
using ::semaphored::testing::VethNamespace;

constexpr absl::Duration kLease = absl::Seconds(2);
constexpr int kServers = 3;
constexpr int kLeadershipLostExit = 5;  // server/leadership.h

enum class Fault { kKillLeader, kStopLeader, kKillEtcdMember, kKillEtcdLeader, kRestartAll, kCut };

const char* FaultName(Fault fault) {
  switch (fault) {
    case Fault::kKillLeader: return "leader SIGKILLed";
    case Fault::kStopLeader: return "leader SIGSTOPped past its lease";
    case Fault::kKillEtcdMember: return "etcd member SIGKILLed";
    case Fault::kKillEtcdLeader: return "etcd leader SIGKILLed";
    case Fault::kRestartAll: return "every server SIGKILLed and restarted";
    case Fault::kCut: return "leader cut off from etcd";
  }
  return "?";
}

struct Config {
  int64_t seconds = EnvInt("SEMAPHORED_HA_TORTURE_SECONDS", 45);
  int64_t processes = EnvInt("SEMAPHORED_TORTURE_PROCESSES", 3);
  int64_t threads = EnvInt("SEMAPHORED_TORTURE_THREADS", 4);
  uint64_t seed = static_cast<uint64_t>(
      EnvInt("SEMAPHORED_TORTURE_SEED", absl::ToUnixMicros(absl::Now()) % 1'000'000'007));
  std::vector<Fault> faults;  // done in turn while the run lasts
  bool repeat = true;         // start again with the first when all were done
};

// Three servers on one etcd cluster, each a process started (and started again) by
// the test; server 0 optionally in a network namespace.
class HaTortureRun {
 public:
  HaTortureRun(const Config& config, std::string dir)
      : config_(config), dir_(std::move(dir)), rng_(config.seed),
        workers_(dir_, config.threads, rng_) {}
  ~HaTortureRun() {
    for (Server& server : servers_) {
      if (server.pid > 0) KillAndReap(server.pid);
    }
  }

  // Starts etcd and the servers (server 0 first, in `ns` when given, and waits until
  // it leads, so that the cut finds the leader there).
  void Start(VethNamespace* ns) {
    ns_ = ns;
    absl::StatusOr<std::unique_ptr<EtcdCluster>> etcd =
        EtcdCluster::Start(3, dir_, ns != nullptr ? ns->host_address() : "");
    ASSERT_TRUE(etcd.ok()) << etcd.status();
    etcd_ = *std::move(etcd);
    std::vector<std::string> addresses;
    for (int i = 0; i < kServers; ++i) {
      absl::StatusOr<int> port = FreeLoopbackPort();
      ASSERT_TRUE(port.ok()) << port.status();
      Server server;
      server.in_ns = ns != nullptr && i == 0;
      server.address = absl::StrCat(server.in_ns ? ns->ns_address() : "127.0.0.1", ":", *port);
      addresses.push_back(server.address);
      servers_.push_back(server);
    }
    workers_.set_address(absl::StrJoin(addresses, ","));
    ASSERT_NO_FATAL_FAILURE(StartServer(0));
    if (ns != nullptr) {
      ASSERT_EQ(AwaitLeader(absl::Seconds(20)), 0);
    }
    for (int i = 1; i < kServers; ++i) ASSERT_NO_FATAL_FAILURE(StartServer(i));
    ASSERT_GE(AwaitLeader(absl::Seconds(20)), 0) << "no server leads";
  }

  // Runs the workers, doing the faults in turn (a worker SIGKILLed before each) until
  // 4 s before the end; then stops every server (standbys first, the leader drains).
  void Run() {
    const int64_t start_ns = MonotonicNanos();
    const int64_t end_ns = start_ns + config_.seconds * 1'000'000'000;
    for (int64_t i = 0; i < config_.processes; ++i) workers_.Start(end_ns);
    for (size_t next = 0; MonotonicNanos() < end_ns - 4'000'000'000; ++next) {
      absl::SleepFor(absl::Milliseconds(500 + static_cast<int64_t>(rng_() % 1500)));
      ASSERT_NO_FATAL_FAILURE(workers_.CrashOne(end_ns));
      ASSERT_NO_FATAL_FAILURE(RestartExited());
      absl::SleepFor(absl::Milliseconds(500 + static_cast<int64_t>(rng_() % 1500)));
      if (config_.repeat || next < config_.faults.size()) {
        ASSERT_NO_FATAL_FAILURE(Do(config_.faults[next % config_.faults.size()]));
      }
    }
    workers_.WaitAll(end_ns);
    ASSERT_NO_FATAL_FAILURE(RestartExited());
    const int leader = AwaitLeader(absl::Seconds(20));
    for (int i = 0; i < kServers; ++i) {
      if (i != leader) {
        ASSERT_NO_FATAL_FAILURE(Stop(i));
      }
    }
    if (leader >= 0) {
      ASSERT_NO_FATAL_FAILURE(Stop(leader));
    }
  }

  History Collect() {
    History history = workers_.Collect();
    std::vector<std::string> traces;
    for (const std::string& path : traces_) {
      if (std::filesystem::exists(path)) traces.push_back(path);
    }
    absl::Status s = ReadLeaderTraceFiles(traces, &history);
    EXPECT_TRUE(s.ok()) << s;
    return history;
  }

  // "SIGKILL of the leader → first grant by the next leader to a session it restored",
  // for every SIGKILL of the leader, from the merged trace.
  std::vector<absl::Duration> FailoverTimes(const History& history) const {
    std::vector<absl::Duration> times;
    for (const Outage& outage : outages_) {
      if (outage.fault != FaultName(Fault::kKillLeader)) continue;
      absl::flat_hash_set<std::string> restored;
      bool in_next = false;
      for (const TraceRecord& r : history.trace) {
        if (r.time_ns <= outage.down_ns) continue;
        if (r.kind == 'S') {
          if (in_next) break;  // another leadership without such a grant
          in_next = true;
        } else if (in_next && r.kind == 'O') {
          restored.insert(r.session);
        } else if (in_next && r.kind == 'G' && restored.contains(r.session)) {
          times.push_back(absl::Nanoseconds(r.time_ns - outage.down_ns));
          break;
        }
      }
    }
    return times;
  }

  const std::vector<Outage>& outages() const { return outages_; }
  int crashes() const { return workers_.crashes(); }
  int stepped_down() const { return stepped_down_; }
  std::string faults_done() const {
    std::vector<std::string> names;
    for (const Outage& outage : outages_) names.push_back(outage.fault);
    return absl::StrJoin(names, "; ");
  }
  bool Done(Fault fault) const {
    return std::any_of(outages_.begin(), outages_.end(),
                       [&](const Outage& o) { return o.fault == FaultName(fault); });
  }

 private:
  struct Server {
    std::string address;  // where it listens and what it advertises
    bool in_ns = false;
    pid_t pid = -1;
    int starts = 0;
  };

  void StartServer(int i) {
    Server& server = servers_[i];
    const std::string port_file = absl::StrCat(dir_, "/port.", i);
    std::filesystem::remove(port_file);
    const std::string trace = absl::StrCat(dir_, "/trace.", i, ".", server.starts++);
    traces_.push_back(trace);
    std::vector<std::string> endpoints;
    for (int m = 0; m < etcd_->size(); ++m) {
      endpoints.push_back(server.in_ns ? etcd_->endpoint_at(ns_->host_address(), m)
                                       : etcd_->endpoint(m));
    }
    std::vector<std::string> argv = {
        SEMAPHORED_BINARY,
        "--listen=" + server.address,
        "--advertise=" + server.address,
        "--port_file=" + port_file,
        "--state_file=",
        "--admin_socket=",
        "--trace_file=" + trace,
        "--etcd_endpoints=" + absl::StrJoin(endpoints, ","),
        "--etcd_prefix=/torture/",
        "--leader_lease_ttl=" + absl::FormatDuration(kLease),
    };
    if (server.in_ns) argv = ns_->InNamespace(argv);
    absl::StatusOr<pid_t> pid = Spawn(argv, absl::StrCat(dir_, "/server.", i, ".log"));
    ASSERT_TRUE(pid.ok()) << pid.status();
    server.pid = *pid;
    ASSERT_NE(AwaitPort(port_file), 0)
        << "server " << i << " did not start; see " << dir_ << "/server." << i << ".log";
  }

  // The server answering as leader (a Test call succeeds), polled every 100 ms until
  // `timeout`; -1 when none does.
  int AwaitLeader(absl::Duration timeout, int except = -1) {
    const absl::Time give_up = absl::Now() + timeout;
    while (absl::Now() < give_up) {
      for (int i = 0; i < kServers; ++i) {
        if (i == except || servers_[i].pid <= 0) continue;
        v1::SemaphoreState state;
        if (UnaryClient(servers_[i].address, absl::Milliseconds(500))
                .Test("torture/probe", &state)
                .ok()) {
          return i;
        }
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    return -1;
  }

  // A server that exited by itself must have lost its leadership (exit 5): it is
  // started again, as its supervisor would.
  void RestartExited() {
    for (int i = 0; i < kServers; ++i) {
      if (servers_[i].pid <= 0) continue;  // (waitpid(-1) would reap any child)
      std::optional<int> status = WaitForExit(servers_[i].pid, absl::ZeroDuration());
      if (!status) continue;
      servers_[i].pid = -1;
      ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == kLeadershipLostExit)
          << "server " << i << " ended with status " << *status << "; see " << dir_
          << "/server." << i << ".log";
      ++stepped_down_;
      ASSERT_NO_FATAL_FAILURE(StartServer(i));
    }
  }

  // SIGTERM: a standby exits, the leader drains; each must exit 0.
  void Stop(int i) {
    kill(servers_[i].pid, SIGTERM);
    std::optional<int> status = WaitForExit(servers_[i].pid, absl::Seconds(20));
    if (!status) KillAndReap(servers_[i].pid);
    servers_[i].pid = -1;
    ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
        << "server " << i << " did not stop cleanly; see " << dir_ << "/server." << i << ".log";
  }

  void Do(Fault fault) {
    const int leader = AwaitLeader(absl::Seconds(20));
    ASSERT_GE(leader, 0) << "no server leads before: " << FaultName(fault);
    const int64_t down_ns = MonotonicNanos();
    switch (fault) {
      case Fault::kKillLeader:
        KillAndReap(std::exchange(servers_[leader].pid, -1));
        ASSERT_NO_FATAL_FAILURE(StartServer(leader));
        break;
      case Fault::kStopLeader: {
        const pid_t pid = servers_[leader].pid;
        ASSERT_EQ(kill(pid, SIGSTOP), 0);
        ASSERT_GE(AwaitLeader(absl::Seconds(20), leader), 0) << "nobody took over";
        ASSERT_EQ(kill(pid, SIGCONT), 0);
        // It must step down by itself, not serve on.
        std::optional<int> status = WaitForExit(pid, absl::Seconds(15));
        if (!status) KillAndReap(pid);
        servers_[leader].pid = -1;
        ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == kLeadershipLostExit)
            << "the resumed leader did not step down (exit 5); see " << dir_ << "/server."
            << leader << ".log";
        ASSERT_NO_FATAL_FAILURE(StartServer(leader));
        break;
      }
      case Fault::kKillEtcdMember:
      case Fault::kKillEtcdLeader: {
        absl::StatusOr<int> etcd_leader = etcd_->Leader();
        ASSERT_TRUE(etcd_leader.ok()) << etcd_leader.status();
        const int member =
            fault == Fault::kKillEtcdLeader ? *etcd_leader : (*etcd_leader + 1) % etcd_->size();
        etcd_->Kill(member);
        absl::SleepFor(absl::Seconds(1));
        absl::Status s = etcd_->Restart(member);
        ASSERT_TRUE(s.ok()) << s;
        break;
      }
      case Fault::kRestartAll:
        for (Server& server : servers_) KillAndReap(std::exchange(server.pid, -1));
        for (int i = 0; i < kServers; ++i) ASSERT_NO_FATAL_FAILURE(StartServer(i));
        break;
      case Fault::kCut: {
        ASSERT_TRUE(servers_[leader].in_ns) << "the cut needs the leader in the namespace";
        absl::Status s = ns_->SetLink(false);
        ASSERT_TRUE(s.ok()) << s;
        const int next = AwaitLeader(absl::Seconds(20), leader);
        absl::SleepFor(absl::Seconds(1));
        s = ns_->SetLink(true);
        ASSERT_TRUE(s.ok()) << s;
        ASSERT_GE(next, 0) << "nobody took over from the cut-off leader";
        std::optional<int> status = WaitForExit(servers_[leader].pid, absl::Seconds(15));
        if (!status) KillAndReap(servers_[leader].pid);
        servers_[leader].pid = -1;
        ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == kLeadershipLostExit)
            << "the cut-off leader did not step down (exit 5); see " << dir_ << "/server."
            << leader << ".log";
        ASSERT_NO_FATAL_FAILURE(StartServer(leader));
        break;
      }
    }
    ASSERT_GE(AwaitLeader(absl::Seconds(20)), 0) << "no server leads after: " << FaultName(fault);
    outages_.push_back({FaultName(fault), down_ns, MonotonicNanos()});
  }

  const Config config_;
  const std::string dir_;
  std::mt19937_64 rng_;
  WorkerPool workers_;
  VethNamespace* ns_ = nullptr;
  std::unique_ptr<EtcdCluster> etcd_;
  std::vector<Server> servers_;
  std::vector<std::string> traces_;  // every server process's, in start order
  std::vector<Outage> outages_;
  int stepped_down_ = 0;  // servers that exited by themselves (exit 5)
};

void RunHaTorture(const Config& config, VethNamespace* ns) {
  std::printf("ha torture: seed %llu, %lld s, %lld processes x %lld threads, %d servers on "
              "3 etcd members, lease %s (replay: SEMAPHORED_TORTURE_SEED=%llu)\n",
              static_cast<unsigned long long>(config.seed), static_cast<long long>(config.seconds),
              static_cast<long long>(config.processes), static_cast<long long>(config.threads),
              kServers, absl::FormatDuration(kLease).c_str(),
              static_cast<unsigned long long>(config.seed));
  RunDir work("semaphored_ha_torture");
  ASSERT_FALSE(work.path().empty());
  const std::string& dir = work.path();
  HaTortureRun run(config, dir);
  ASSERT_NO_FATAL_FAILURE(run.Start(ns));
  ASSERT_NO_FATAL_FAILURE(run.Run());
  const History history = run.Collect();
  CheckOptions options;
  options.allowed_open_errors = {absl::StatusCode::kUnavailable};
  options.trace_complete = false;  // the last leader keeps its state
  const CheckReport report = CheckHistory(history, options);
  const int64_t across = CallsAcrossOutages(history, run.outages());
  std::printf("ha torture: %s; worker crashes %d; faults %zu (%s); servers that stepped "
              "down by themselves %d; calls across the faults %lld\n",
              report.Summary().c_str(), run.crashes(), run.outages().size(),
              run.faults_done().c_str(), run.stepped_down(), static_cast<long long>(across));
  for (const absl::Duration d : run.FailoverTimes(history)) {
    std::printf("ha torture: failover (SIGKILL of the leader to its successor's first grant "
                "to a resumed session): %s\n",
                absl::FormatDuration(d).c_str());
  }
  for (const std::string& m : report.messages) std::printf("  violation: %s\n", m.c_str());
  std::fflush(stdout);
  EXPECT_EQ(report.violations, 0) << "seed " << config.seed << "; files in " << dir;
  for (Fault fault : config.faults) EXPECT_TRUE(run.Done(fault)) << "not done: " << FaultName(fault);
  // The run must have done real work across leaders for its verdict to mean anything
  // (bounds low enough for a sanitizer build on 2 cores: about 190 operations a second
  // run in a plain build).
  EXPECT_GT(report.ops_checked, 20 * config.seconds);
  EXPECT_GT(report.client_grants, 2 * config.seconds);
  EXPECT_GT(report.server_grants, 2 * config.seconds);
  EXPECT_GT(report.server_restores, static_cast<int64_t>(run.outages().size()) / 2)
      << "few leaderships restored a state";
  // (With a single fault, no call in flight across it can be chance.)
  if (run.outages().size() >= 3) {
    EXPECT_GT(across, 0) << "no call was in flight across a fault";
  }
}

TEST(HaTortureTest, RandomOperationsAcrossLeaderAndEtcdFaultsKeepEveryPromise) {
  Config config;
  config.faults = {Fault::kKillLeader, Fault::kStopLeader, Fault::kKillEtcdMember,
                   Fault::kKillEtcdLeader, Fault::kRestartAll};
  ASSERT_NO_FATAL_FAILURE(RunHaTorture(config, nullptr));
}

TEST(HaTortureTest, RandomOperationsAcrossALeaderCutOffFromEtcdKeepEveryPromise) {
  absl::StatusOr<std::unique_ptr<VethNamespace>> ns = VethNamespace::Create();
  if (ns.status().code() == absl::StatusCode::kPermissionDenied ||
      ns.status().code() == absl::StatusCode::kFailedPrecondition) {
    GTEST_SKIP() << "cannot make a network namespace here: " << ns.status().message();
  }
  ASSERT_TRUE(ns.ok()) << ns.status();
  Config config;
  config.seconds = std::max<int64_t>(20, config.seconds / 3);
  config.faults = {Fault::kCut};
  config.repeat = false;  // afterwards the leader is not the server in the namespace
  ASSERT_NO_FATAL_FAILURE(RunHaTorture(config, ns->get()));
}

}  // namespace
}  // namespace semaphored::torture
