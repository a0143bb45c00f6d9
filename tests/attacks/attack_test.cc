// The attack suite: each attack runs (in the attack_driver process) against
// the real semaphored binary on loopback, in a memory cgroup of its own, while
// AttackMonitor probes its health on new connections and samples its memory. After
// each attack the server must still run, answer a health check on a new connection
// within 1 s, and have stayed under the attack's memory bound (its peak resident
// size, VmHWM). Some attacks check more: what the attack itself observed.
//
// Each test prints one line:
//   [attack] NAME peak_rss=.. MiB health_max=.. ms unavailable=.. ms server=.. | DRIVER
// and, when SEMAPHORED_ATTACK_REPORT names a file, appends it there too.

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "semaphored/v1/semaphore.grpc.pb.h"
#include "tests/attacks/attack_monitor.h"
#include "tests/attacks/attacked_server.h"
#include "tests/attacks/attacks.h"
#include "tests/attacks/grpc_util.h"
#include "tests/attacks/net_util.h"
#include "tests/attacks/tcp_forwarder.h"
#include "tests/faults/server_child.h"

namespace semaphored::testing {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;
// After the driver ends, the server's figures are taken once it has used no CPU for
// kIdleQuiet (it may still be working through what the attack queued), at most
// kIdleWait later.
constexpr absl::Duration kIdleQuiet = absl::Milliseconds(500);
constexpr absl::Duration kIdleWait = absl::Seconds(15);

// The server's cgroup memory limit: beyond it the kernel OOM-kills the server (which
// the test reports as the server dying). The earlier hardening runs used 2 GiB; 1 GiB
// shows the same failures sooner and spares the shared test machine.
constexpr int64_t kCgroupLimit = 1024 * kMiB;

// After an attack, a health check on a new connection must answer within this.
constexpr absl::Duration kHealthAfter = absl::Seconds(1);

// Memory bounds: the server's peak resident size (VmHWM) during each attack. An idle
// server is about 19 MiB. Each bound is to be aligned with the figure the README
// documents for the server at its default limits; 128 MiB is a placeholder well
// above an idle server and well below what each attack takes today.
//
// 1,000 holders, one 48 KiB message of `test`: the answers are budgeted per stream
// and holder lists capped (before: 2.3 GB).
constexpr int64_t kTestAmplificationRssBound = 128 * kMiB;
// Streams on one connection: gRPC 1.51.1 enforces --max_concurrent_streams only on
// clients that acknowledged the server's settings, and this attacker never does; each
// unused stream costs about 20 KB until its first-message deadline (10 s) ends it.
// Not bounded by the server for such a client (a residual risk the README states;
// before these defences 142,000 streams OOM-killed it): the test pins the cost of
// kFloodStreams streams and that the server recovers.
constexpr int64_t kFloodStreams = 20'000;
constexpr int64_t kStreamFloodRssBound = 640 * kMiB;
// 10,000 holds and 10,000 waiters (the most one session may queue by default).
constexpr int64_t kHandOnRssBound = 128 * kMiB;
// Sessions from one peer are capped, and their creation rate (before these defences: 100,000 in 5 s).
constexpr int64_t kSessionFloodRssBound = 128 * kMiB;
// Holds are capped in total and per session (before these defences: 1,000,000 in 10 s
// at 460 B each, and more without end): one client can fill --max_holds and
// --max_semaphores (1,000,000 each by default, about 240 MB in the core), no more.
constexpr int64_t kHoldFloodRssBound = 512 * kMiB;
// HTTP/2 rapid reset (CVE-2023-44487) is NOT bounded by the server: Debian's gRPC
// 1.51.1 accepts a call per HEADERS faster than it finishes the cancelled ones, about
// 20 KB each until it catches up, and no channel argument or the resource quota
// limits that (a residual risk the README's Security section states, with the front
// proxy it recommends; unbounded, 190,000 resets from 4 connections OOM-killed the
// server in its 1 GiB cgroup). This test pins that cost for a bounded attack of
// kRapidResets resets on one connection, and that the server recovers after it.
constexpr int64_t kRapidResets = 20'000;
constexpr int64_t kRapidResetRssBound = 640 * kMiB;
// A header block that never ends (CVE-2023-33953) is NOT bounded by the server either:
// gRPC 1.51.1 keeps parsing CONTINUATION frames past the metadata limit, and its
// memory grows with what the attacker sends (a residual risk the README states; an
// 8 s flood from 16 connections once reached 878 MiB). The test pins the cost of a
// flood of at most kContinuationFrames frames of 16 KiB (192 MiB) sent within
// kContinuationSeconds, and that the server recovers after it. (Bounded by time
// alone, a faster machine sent more and the cost grew with it.)
constexpr int64_t kContinuationSeconds = 2;
constexpr int64_t kContinuationFrames = 12'288;
constexpr int64_t kContinuationFloodRssBound = 512 * kMiB;
// Requests inflating to 60 MiB each: compression off unless configured.
constexpr int64_t kGzipBombRssBound = 128 * kMiB;
// The metrics port reads no request body (before these defences: +1 GB for a chunked POST).
constexpr int64_t kMetricsChunkedPostRssBound = 128 * kMiB;
constexpr int64_t kMetricsSlowlorisRssBound = 128 * kMiB;
constexpr int64_t kMetricsConnectionFloodRssBound = 128 * kMiB;
constexpr int64_t kAdminRssBound = 128 * kMiB;
// An idle server with one session: the control case.
constexpr int64_t kControlRssBound = 64 * kMiB;

// During the hand-on, every health check, and a bystander's TestSemaphore (which
// needs the core), answer within this (before these defences: every client stalled 0.25 s at
// 10,000 names, 19 s at 80,000).
constexpr absl::Duration kHandOnHealthBound = absl::Milliseconds(500);
constexpr int64_t kHandOnBystanderBoundMs = 500;
// While two slowloris connections hold their requests open, a scrape answers within
// this (before these defences: every scrape blocked).
constexpr int64_t kSlowlorisScrapeBoundMs = 2000;
// Wrong admin tokens the server checks per second from one peer (before these defences: 4,500).
constexpr int64_t kMaxCheckedGuessesPerSecond = 20;
// Log bytes the 3 s of token guessing may add (before these defences: a line per guess).
constexpr int64_t kMaxGuessingLogBytes = 64 * 1024;

// What an attack did and how the server fared.
struct Outcome {
  std::string attack;
  std::map<std::string, std::string> report;  // the driver's key=value fields
  std::string report_line;
  AttackMonitor::Result monitor;
  int64_t peak_rss = 0;
  int64_t cgroup_peak = -1;
  bool alive = false;
  std::string exit;
  grpc::Status health_after;
  absl::Duration health_after_latency;

  int64_t Int(const std::string& key) const {
    int64_t value = -1;
    auto it = report.find(key);
    if (it == report.end() || !absl::SimpleAtoi(it->second, &value)) return -1;
    return value;
  }
  std::string Str(const std::string& key) const {
    auto it = report.find(key);
    return it == report.end() ? "" : it->second;
  }
};

// Runs `argv` with stdout and stderr to files; waits at most `timeout`, then kills it.
// Its stdout, or the error.
absl::StatusOr<std::string> RunDriver(const std::vector<std::string>& args,
                                      const std::string& dir, absl::Duration timeout) {
  std::vector<std::string> argv = {ATTACK_DRIVER_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> c_argv;
  for (std::string& a : argv) c_argv.push_back(a.data());
  c_argv.push_back(nullptr);
  const std::string out_path = dir + "/driver.out";
  const std::string err_path = dir + "/driver.err";
  const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(err, STDERR_FILENO);
    ::execv(c_argv[0], c_argv.data());
    ::_exit(127);
  }
  ::close(out);
  ::close(err);
  const absl::Time give_up = absl::Now() + timeout;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (absl::Now() > give_up) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return absl::DeadlineExceededError(absl::StrCat(
          "the attack driver ran over ", absl::FormatDuration(timeout)));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  absl::StatusOr<std::string> text = ReadFileText(out_path);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    absl::StatusOr<std::string> errors = ReadFileText(err_path);
    return absl::InternalError(absl::StrCat("the attack driver failed (status ", status,
                                            "): ", errors.ok() ? *errors : ""));
  }
  return text;
}

class AttackTest : public ::testing::Test {
 protected:
  void StartServer(bool metrics = false, std::vector<std::string> args = {}) {
    AttackedServerOptions options;
    options.binary = SEMAPHORED_BINARY;
    options.dir = dir_.path();
    options.args = std::move(args);
    options.memory_limit = kCgroupLimit;
    options.metrics = metrics;
    absl::StatusOr<std::unique_ptr<AttackedServer>> started =
        AttackedServer::Start(std::move(options));
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = *std::move(started);
  }

  // Waits until the server has used no CPU for kIdleQuiet (it read /proc/PID/stat),
  // at most kIdleWait; returns at once when the server is gone.
  void AwaitServerIdle() {
    const absl::Time give_up = absl::Now() + kIdleWait;
    int64_t last = -1;
    absl::Time quiet_since = absl::Now();
    while (absl::Now() < give_up && server_->Alive()) {
      std::ifstream stat(absl::StrCat("/proc/", server_->pid(), "/stat"));
      std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
      // Fields after the command's closing parenthesis: utime and stime are the
      // 12th and 13th of them.
      std::vector<std::string> fields =
          absl::StrSplit(text.substr(text.rfind(')') + 2), ' ');
      int64_t utime = 0, stime = 0;
      if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
          !absl::SimpleAtoi(fields[12], &stime)) {
        return;
      }
      if (utime + stime != last) {
        last = utime + stime;
        quiet_since = absl::Now();
      } else if (absl::Now() - quiet_since >= kIdleQuiet) {
        return;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
  }

  // Runs `attack` with `args` for the driver; the figures, printed as one line.
  Outcome RunAttack(const std::string& attack, std::vector<std::string> args = {}) {
    Outcome o;
    o.attack = attack;
    args.insert(args.begin(), {attack, "--target=" + server_->grpc_address()});
    if (!server_->metrics_address().empty()) {
      args.push_back("--metrics=" + server_->metrics_address());
    }
    absl::StatusOr<std::string> output;
    {
      AttackMonitor monitor(server_.get());
      output = RunDriver(args, dir_.path(), absl::Seconds(120));
      // What the server still has to work through after the attacker is done (gRPC
      // may have queued calls faster than it runs them) belongs to the attack too:
      // watch until the server's CPU time stands still.
      AwaitServerIdle();
      o.monitor = monitor.Stop();
    }
    EXPECT_TRUE(output.ok()) << output.status();
    if (output.ok()) {
      const std::string prefix = absl::StrCat("result ", attack, " ");
      if (const size_t at = output->rfind(prefix); at != std::string::npos) {
        o.report_line = output->substr(at + prefix.size());
        o.report_line = o.report_line.substr(0, o.report_line.find('\n'));
        o.report = ParseReportLine(o.report_line);
      }
    }
    o.alive = server_->Alive();
    o.exit = server_->ExitDescription();
    if (o.alive) {
      const absl::Time start = absl::Now();
      o.health_after = HealthCheckNewConnection(server_->grpc_address(), kHealthAfter);
      o.health_after_latency = absl::Now() - start;
      absl::StatusOr<AttackedServer::Memory> memory = server_->ReadMemory();
      if (memory.ok()) o.monitor.peak_rss = std::max(o.monitor.peak_rss, memory->hwm);
    } else {
      o.health_after = grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is gone");
    }
    o.peak_rss = o.monitor.peak_rss;
    o.cgroup_peak = server_->CgroupPeak();
    Print(o);
    return o;
  }

  void Print(const Outcome& o) {
    const std::string line = absl::StrFormat(
        "[attack] %-24s peak_rss=%lld MiB health_max=%lld ms unavailable=%lld ms "
        "probes_bad=%lld/%lld server=%s cgroup_peak=%s | %s",
        o.attack, o.peak_rss / kMiB, absl::ToInt64Milliseconds(o.monitor.max_health_latency),
        absl::ToInt64Milliseconds(o.monitor.unavailable), o.monitor.probe_failures,
        o.monitor.probes,
        o.alive ? (o.health_after.ok() ? "up" : "up-but-unhealthy")
                : absl::StrCat("DIED(", o.exit, ")"),
        o.cgroup_peak < 0 ? std::string("n/a") : absl::StrCat(o.cgroup_peak / kMiB, "MiB"),
        o.report_line);
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    RecordProperty("figures", line);
    if (!o.monitor.first_failure.empty()) {
      RecordProperty("first_bad_probe", o.monitor.first_failure);
    }
    if (const char* file = std::getenv("SEMAPHORED_ATTACK_REPORT"); file != nullptr) {
      std::ofstream(file, std::ios::app) << line << "\n";
    }
  }

  // The checks after every attack: the server runs, answers a health check on a new
  // connection within kHealthAfter, and its peak resident size stayed under `bound`.
  void ExpectSurvived(const Outcome& o, int64_t rss_bound) {
    EXPECT_TRUE(o.alive) << "the server died during " << o.attack << ": " << o.exit
                         << "\nserver log:\n"
                         << server_->LogTail();
    if (o.alive) {
      EXPECT_TRUE(o.health_after.ok() && o.health_after_latency <= kHealthAfter)
          << "after " << o.attack << " the health check on a new connection answered "
          << o.health_after.error_code() << " \"" << o.health_after.error_message()
          << "\" in " << absl::FormatDuration(o.health_after_latency);
    }
    EXPECT_LE(o.peak_rss, rss_bound)
        << o.attack << " took the server's resident memory to " << o.peak_rss / kMiB
        << " MiB (bound " << rss_bound / kMiB << " MiB; limit "
        << server_->memory_bound() << ")";
  }

  ScratchDir dir_{"semaphored_attack_"};
  std::unique_ptr<AttackedServer> server_;
};

// The harness itself: without an attack, every check passes and no probe fails.
TEST_F(AttackTest, ControlWithoutAttackPassesEveryCheck) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const Outcome o = RunAttack("control");
  EXPECT_EQ(o.Int("pings"), 1) << o.report_line;
  EXPECT_GT(o.monitor.probes, 0);
  EXPECT_EQ(o.monitor.probe_failures, 0) << o.monitor.first_failure;
  ExpectSurvived(o, kControlRssBound);
}

TEST_F(AttackTest, TestAmplificationIsBoundedByAnswerBudget) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const Outcome o = RunAttack("test_amplification");
  // The attack is what it says: 1,000 holders, one ~48 KiB message of tests.
  EXPECT_EQ(o.Int("holders"), 1000) << o.report_line;
  EXPECT_GE(o.Int("message_bytes"), 48 * 1024) << o.report_line;
  ExpectSurvived(o, kTestAmplificationRssBound);
}

TEST_F(AttackTest, BoundedStreamFloodCostsWhatTheReadmeSaysAndTheServerRecovers) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const Outcome o = RunAttack("stream_flood", {absl::StrCat("--count=", kFloodStreams)});
  EXPECT_GT(o.Int("streams_opened"), 0) << o.report_line;
  ExpectSurvived(o, kStreamFloodRssBound);
}

TEST_F(AttackTest, HandOnDoesNotStallOtherClients) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const Outcome o = RunAttack("hand_on");
  EXPECT_GT(o.Int("held"), 0) << o.report_line;
  EXPECT_EQ(o.Int("granted"), o.Int("held")) << "B did not get every name A held: "
                                             << o.report_line;
  EXPECT_LE(o.monitor.max_health_latency, kHandOnHealthBound)
      << "a health check waited " << absl::FormatDuration(o.monitor.max_health_latency)
      << " while " << o.Int("held") << " names passed from A to B";
  EXPECT_GE(o.Int("bystander_tests"), 1) << o.report_line;
  EXPECT_LE(o.Int("bystander_max_ms"), kHandOnBystanderBoundMs)
      << "another client's TestSemaphore waited " << o.Int("bystander_max_ms")
      << " ms while " << o.Int("held") << " names passed from A to B: " << o.report_line;
  ExpectSurvived(o, kHandOnRssBound);
}

TEST_F(AttackTest, SessionFloodLeavesRoomForOtherPeers) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const Outcome o = RunAttack("session_flood");
  EXPECT_GT(o.Int("created"), 0) << o.report_line;
  ExpectSurvived(o, kSessionFloodRssBound);
  if (!o.alive) return;
  // A legitimate client on another peer host (127.0.0.2) still gets a session.
  std::string host;
  int port = 0;
  ASSERT_TRUE(SplitHostPort(server_->grpc_address(), &host, &port).ok());
  absl::StatusOr<std::unique_ptr<TcpForwarder>> other =
      TcpForwarder::Start(host, port, "127.0.0.2");
  ASSERT_TRUE(other.ok()) << other.status();
  auto stub = v1::SemaphoreService::NewStub(OwnChannel((*other)->address()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kHealthAfter));
  v1::CreateSessionRequest request;
  request.set_client_name("legitimate");
  v1::CreateSessionResponse response;
  const grpc::Status status = stub->CreateSession(&context, request, &response);
  EXPECT_TRUE(status.ok()) << "a CreateSession from 127.0.0.2 after the flood got "
                           << status.error_code() << " \"" << status.error_message() << "\"";
}

TEST_F(AttackTest, HoldFloodIsBounded) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const Outcome o = RunAttack("hold_flood");
  EXPECT_GT(o.Int("held"), 0) << o.report_line;
  ExpectSurvived(o, kHoldFloodRssBound);
}

TEST_F(AttackTest, BoundedRapidResetCostsWhatTheReadmeSaysAndTheServerRecovers) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const Outcome o = RunAttack(
      "rapid_reset", {absl::StrCat("--count=", kRapidResets), "--concurrency=1"});
  EXPECT_GE(o.Int("pairs"), kRapidResets) << o.report_line;
  ExpectSurvived(o, kRapidResetRssBound);
}

// The flood's memory is bounded and the server serves again once it ends; DURING the
// flood gRPC 1.51.1 spends its threads parsing HPACK (CVE-2023-33953) and health
// checks may wait seconds: a residual risk the README states (the figure is printed).
TEST_F(AttackTest, ContinuationFloodMemoryIsBoundedAndTheServerRecovers) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const Outcome o =
      RunAttack("continuation_flood", {absl::StrCat("--seconds=", kContinuationSeconds),
                                       absl::StrCat("--count=", kContinuationFrames)});
  EXPECT_GT(o.Int("huge_value_bytes"), 0) << o.report_line;
  EXPECT_GT(o.Int("many_headers_bytes"), 0) << o.report_line;
  ExpectSurvived(o, kContinuationFloodRssBound);
}

TEST_F(AttackTest, GzipBombIsBounded) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const Outcome o = RunAttack("gzip_bomb");
  EXPECT_GT(o.Int("requests"), 0) << o.report_line;
  ExpectSurvived(o, kGzipBombRssBound);
}

TEST_F(AttackTest, MetricsChunkedPostBodyIsNotRead) {
  ASSERT_NO_FATAL_FAILURE(StartServer(/*metrics=*/true));
  const Outcome o = RunAttack("metrics_chunked_post");
  ExpectSurvived(o, kMetricsChunkedPostRssBound);
}

TEST_F(AttackTest, MetricsSlowlorisDoesNotBlockScrapes) {
  ASSERT_NO_FATAL_FAILURE(StartServer(/*metrics=*/true));
  const Outcome o = RunAttack("metrics_slowloris");
  EXPECT_EQ(o.Int("slow_connections"), 2) << o.report_line;
  EXPECT_GT(o.Int("scrapes"), 0) << o.report_line;
  EXPECT_EQ(o.Int("scrape_failures"), 0) << o.report_line;
  EXPECT_LE(o.Int("scrape_max_ms"), kSlowlorisScrapeBoundMs) << o.report_line;
  ExpectSurvived(o, kMetricsSlowlorisRssBound);
}

TEST_F(AttackTest, MetricsConnectionFloodLeavesGrpcListenerAccepting) {
  ASSERT_NO_FATAL_FAILURE(StartServer(/*metrics=*/true));
  const Outcome o = RunAttack("metrics_connection_flood");
  EXPECT_GT(o.Int("connections"), 0) << o.report_line;
  // ExpectSurvived's health check comes on a new connection: the gRPC listener must
  // still accept once the flood is gone (CVE-2023-4785 left it dead).
  ExpectSurvived(o, kMetricsConnectionFloodRssBound);
  if (!o.alive) return;
  std::string host;
  int port = 0;
  ASSERT_TRUE(SplitHostPort(server_->metrics_address(), &host, &port).ok());
  absl::StatusOr<std::string> scrape = HttpExchange(
      host, port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      absl::Seconds(5));
  ASSERT_TRUE(scrape.ok()) << "a scrape after the flood: " << scrape.status();
  EXPECT_EQ(scrape->rfind("HTTP/1.1 200", 0), 0u) << scrape->substr(0, 200);
}

TEST_F(AttackTest, AdminDrainThroughForwarderWithoutTokenIsRefused) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const Outcome o = RunAttack("admin_drain_forwarder");
  EXPECT_EQ(o.Str("drain"), "refused") << "Drain without a token through a forwarder: "
                                       << o.report_line;
  ExpectSurvived(o, kAdminRssBound);
}

TEST_F(AttackTest, AdminTokenGuessesAreThrottled) {
  // A 128-bit token in a file only its owner reads.
  const std::string token_file = dir_.File("admin_token");
  ASSERT_TRUE(WriteFileText(token_file, "7f3a9c0e5b1d2f4a8c6e0b3d5f7a9c1e\n").ok());
  ASSERT_EQ(::chmod(token_file.c_str(), 0600), 0);
  ASSERT_NO_FATAL_FAILURE(StartServer(false, {"--admin_token_file=" + token_file}));
  const int64_t log_before = server_->LogBytes();
  const Outcome o = RunAttack("admin_token_guessing");
  const int64_t log_growth = server_->LogBytes() - log_before;
  std::printf("[attack] admin_token_guessing log_bytes=%lld\n",
              static_cast<long long>(log_growth));
  EXPECT_EQ(o.Int("accepted"), 0) << o.report_line;
  EXPECT_LE(o.Int("checked_per_second"), kMaxCheckedGuessesPerSecond) << o.report_line;
  EXPECT_LE(log_growth, kMaxGuessingLogBytes)
      << "3 s of wrong tokens wrote " << log_growth << " log bytes";
  ExpectSurvived(o, kAdminRssBound);
}

}  // namespace
}  // namespace semaphored::testing
