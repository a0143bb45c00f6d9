// The semaphored binary as a process: flags, environment, the listening line, the
// port file, and a clean exit on SIGTERM that wakes waiters first.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/server/test_server.h"

extern char** environ;

namespace semaphored::internal::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

// A semaphored child process whose stderr is read through a pipe.
class ServerProcess {
 public:
  // Starts the binary with `args` and extra environment entries "NAME=VALUE".
  ServerProcess(std::vector<std::string> args, std::vector<std::string> env = {}) {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    stderr_fd_ = fds[0];
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    args.insert(args.begin(), SEMAPHORED_BINARY);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (char** e = environ; *e != nullptr; ++e) env.push_back(*e);
    std::vector<char*> envp;
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    EXPECT_EQ(posix_spawn(&pid_, SEMAPHORED_BINARY, &actions, nullptr, argv.data(),
                          envp.data()),
              0);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
  }
  ~ServerProcess() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(stderr_fd_);
  }

  // The next stderr line, waiting at most kRpcDeadline; empty at end or timeout.
  std::string ReadLine() {
    const absl::Time give_up = absl::Now() + kRpcDeadline;
    while (true) {
      const size_t newline = buffer_.find('\n');
      if (newline != std::string::npos) {
        std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        return line;
      }
      const absl::Duration left = give_up - absl::Now();
      if (left <= absl::ZeroDuration()) return "";
      pollfd p{stderr_fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1) <= 0)
        return "";
      char chunk[512];
      const ssize_t n = read(stderr_fd_, chunk, sizeof chunk);
      if (n <= 0) return "";
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }
  // Reads stderr to its end (the process has closed it) and waits for the exit
  // status; -1 if it did not exit within kRpcDeadline.
  int Wait(std::string* output = nullptr) {
    const absl::Time give_up = absl::Now() + kRpcDeadline;
    while (true) {
      const absl::Duration left = give_up - absl::Now();
      if (left <= absl::ZeroDuration()) break;
      pollfd p{stderr_fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1) <= 0) break;
      char chunk[512];
      const ssize_t n = read(stderr_fd_, chunk, sizeof chunk);
      if (n <= 0) break;
      buffer_.append(chunk, static_cast<size_t>(n));
    }
    if (output != nullptr) *output = buffer_;
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (absl::Now() > give_up) return -1;
      absl::SleepFor(absl::Milliseconds(10));
    }
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  void Signal(int sig) { kill(pid_, sig); }

 private:
  pid_t pid_ = -1;
  int stderr_fd_ = -1;
  bool exited_ = false;
  std::string buffer_;
};

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/semaphored_main_test_", getpid(),
                      "_", name);
}

// The port from "semaphored: listening on 127.0.0.1:PORT".
int PortOf(const std::string& line) {
  absl::string_view rest = line;
  if (!absl::ConsumePrefix(&rest, "semaphored: listening on 127.0.0.1:")) return 0;
  return std::atoi(std::string(rest).c_str());
}

std::unique_ptr<v1::SemaphoreService::Stub> StubFor(int port) {
  return v1::SemaphoreService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
}

TEST(MainTest, ServesAndExitsCleanlyOnSigtermWakingWaiters) {
  const std::string port_file = TempPath("port");
  const std::string state_file = TempPath("state");
  std::remove(port_file.c_str());
  ServerProcess process(
      {"--listen=127.0.0.1:0", "--port_file=" + port_file, "--state_file=" + state_file});
  const std::string line = process.ReadLine();
  EXPECT_THAT(line, MatchesRegex("semaphored: listening on 127\\.0\\.0\\.1:[0-9]+"));
  const int port = PortOf(line);
  ASSERT_GT(port, 0);
  std::ifstream in(port_file);
  int written = 0;
  in >> written;
  EXPECT_EQ(written, port);

  auto stub = StubFor(port);
  auto health = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  grpc::health::v1::HealthCheckResponse serving;
  ASSERT_TRUE(health->Check(Ctx().get(), {}, &serving).ok());
  EXPECT_EQ(serving.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  TestSession holder = OpenSession(*stub, "holder");
  TestSession waiter = OpenSession(*stub, "waiter");
  v1::SetSemaphoreResponse set;
  ASSERT_TRUE(stub->SetSemaphore(Ctx().get(), SetRequest(holder, "x"), &set).ok());
  ASSERT_TRUE(set.acquired());
  v1::SetSemaphoreRequest wait = SetRequest(waiter, "x");
  wait.set_wait_indefinitely(true);
  SetCall call(wait);
  Start(*stub, call);
  // Make sure the wait is queued: a test on the semaphore shows it.
  const absl::Time give_up = absl::Now() + kRpcDeadline;
  v1::TestSemaphoreResponse tested;
  do {
    v1::TestSemaphoreRequest test;
    test.set_name("x");
    ASSERT_TRUE(stub->TestSemaphore(Ctx().get(), test, &tested).ok());
  } while (tested.state().waiter_count() == 0 && absl::Now() < give_up);
  ASSERT_EQ(tested.state().waiter_count(), 1);

  process.Signal(SIGTERM);
  ASSERT_TRUE(call.Await());
  EXPECT_THAT(call.status, GrpcIs(grpc::StatusCode::UNAVAILABLE,
                                  HasSubstr("server is shutting down")));
  std::string rest;
  EXPECT_EQ(process.Wait(&rest), 0) << rest;
  EXPECT_THAT(rest, HasSubstr("SIGTERM"));
  // The fencing token state was recorded.
  std::ifstream state(state_file);
  EXPECT_TRUE(state.good());
  std::remove(port_file.c_str());
  std::remove(state_file.c_str());
}

TEST(MainTest, FlagsComeFromTheEnvironmentAndTheCommandLineWins) {
  ServerProcess from_env({"--listen=127.0.0.1:0", "--state_file="},
                         {"SEMAPHORED_DEFAULT_TTL=7s", "SEMAPHORED_MIN_TTL=2s"});
  const int port = PortOf(from_env.ReadLine());
  ASSERT_GT(port, 0);
  v1::CreateSessionResponse created;
  ASSERT_TRUE(StubFor(port)->CreateSession(Ctx().get(), {}, &created).ok());
  EXPECT_EQ(created.ttl().seconds(), 7);
  v1::CreateSessionRequest too_short;
  too_short.mutable_ttl()->set_seconds(1);
  EXPECT_THAT(StubFor(port)->CreateSession(Ctx().get(), too_short, &created),
              GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("2s")));
  from_env.Signal(SIGINT);
  EXPECT_EQ(from_env.Wait(), 0);

  ServerProcess both({"--listen=127.0.0.1:0", "--state_file=", "--default_ttl=9s"},
                     {"SEMAPHORED_DEFAULT_TTL=7s"});
  const int port2 = PortOf(both.ReadLine());
  ASSERT_GT(port2, 0);
  ASSERT_TRUE(StubFor(port2)->CreateSession(Ctx().get(), {}, &created).ok());
  EXPECT_EQ(created.ttl().seconds(), 9);
  both.Signal(SIGTERM);
  EXPECT_EQ(both.Wait(), 0);
}

TEST(MainTest, BadConfigurationExitsWithAMessage) {
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--min_ttl=10s", "--default_ttl=5s"}, {}, "--min_ttl"},
      {{}, {"SEMAPHORED_MAX_TTL=soon"}, "SEMAPHORED_MAX_TTL"},
      {{"--listen=nonsense"}, {}, "nonsense"},
      {{"--max_sessions=0"}, {}, "--max_sessions"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    std::vector<std::string> args = c.args;
    args.push_back("--state_file=");
    ServerProcess process(args, c.env);
    std::string output;
    const int code = process.Wait(&output);
    EXPECT_NE(code, 0);
    EXPECT_NE(code, -1);
    EXPECT_THAT(output, HasSubstr(c.message));
  }
}

}  // namespace
}  // namespace semaphored::internal::testing
