// The real binary's process-level defences: the port file is never written through a
// symlink (refused), every stderr line stays JSON with --log_format=json even when a client
// makes libprotobuf complain, the open-file limit is raised and logged, and the
// listener self-check ends a server whose gRPC listener died of descriptor exhaustion
// (CVE-2023-4785) with status 3. Loopback only; every wait is bounded; every child is
// killed by its pid.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/observability/json_check.h"
#include "tests/server/server_process.h"

namespace semaphored::server::testing {
namespace {

using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Waits (bounded) until `path` holds a port number; 0 on timeout.
int AwaitPortFile(const std::string& path) {
  const absl::Time give_up = absl::Now() + kRpcDeadline;
  while (absl::Now() < give_up) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      const int port = std::atoi(ReadFile(path).c_str());
      if (port > 0) return port;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return 0;
}

bool HealthServing(int port) {
  auto health = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  grpc::health::v1::HealthCheckResponse response;
  return health->Check(Ctx().get(), grpc::health::v1::HealthCheckRequest(), &response).ok() &&
         response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
}

TEST(MainHardeningTest, PortFileRefusesASymlinkInsteadOfFollowingIt) {
  const std::string victim = TempPath("victim");
  const std::string port_file = TempPath("port_symlink");
  { std::ofstream(victim) << "precious\n"; }
  ::unlink(port_file.c_str());
  ASSERT_EQ(::symlink(victim.c_str(), port_file.c_str()), 0);

  ServerProcess server({"--listen=127.0.0.1:0", "--state_file=", "--port_file=" + port_file});
  std::string output;
  EXPECT_EQ(server.Wait(&output), 1);
  EXPECT_THAT(output, HasSubstr("symbolic link"));
  struct stat st {};
  ASSERT_EQ(::lstat(port_file.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode)) << "the planted link was replaced";
  EXPECT_EQ(ReadFile(victim), "precious\n");
  ::unlink(port_file.c_str());
  ::unlink(victim.c_str());
}

// A client sends a string field with invalid UTF-8: libprotobuf logs an error in the
// server, which must come out as a JSON line like every other.
TEST(MainHardeningTest, EveryStderrLineIsJsonAfterInvalidUtf8) {
  const std::string port_file = TempPath("port_json");
  ::unlink(port_file.c_str());
  ServerProcess server({"--listen=127.0.0.1:0", "--state_file=", "--log_format=json",
                        "--port_file=" + port_file});
  const int port = AwaitPortFile(port_file);
  ASSERT_GT(port, 0);
  auto stub = StubFor(port);
  for (int i = 0; i < 3; ++i) {
    v1::CreateSessionRequest request;
    request.set_client_name("bad \xff\xfe name");  // the client library logs too: ours
    v1::CreateSessionResponse response;
    const grpc::Status status = stub->CreateSession(Ctx().get(), request, &response);
    EXPECT_FALSE(status.ok());
  }
  server.Signal(SIGTERM);
  std::string output;
  EXPECT_EQ(server.Wait(&output), 0);
  int library_lines = 0;
  FlatJsonParser parser;
  for (absl::string_view line : absl::StrSplit(output, '\n', absl::SkipEmpty())) {
    SCOPED_TRACE(line);
    EXPECT_TRUE(parser.Parse(line).has_value()) << parser.error();
    if (absl::StrContains(line, "\"event\":\"protobuf_log\"")) {
      ++library_lines;
      EXPECT_THAT(std::string(line), HasSubstr("invalid UTF-8"));
    }
  }
  EXPECT_EQ(library_lines, 3) << output;
  ::unlink(port_file.c_str());
}

TEST(MainHardeningTest, OpenFileLimitIsRaisedToTheHardLimitAndLogged) {
  rlimit limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
  ServerProcess server({"--listen=127.0.0.1:0", "--state_file="});
  ASSERT_GT(PortOf(server.ReadLine()), 0);
  std::string line;
  for (int i = 0; i < 5 && !absl::StrContains(line, "file_limit"); ++i) {
    line = server.ReadLine();
  }
  const rlim_t expected = limit.rlim_max == RLIM_INFINITY ? 0 : limit.rlim_max;
  EXPECT_THAT(line, HasSubstr("file_limit"));
  if (expected != 0) {
    EXPECT_THAT(line, HasSubstr(absl::StrCat("open_files=", expected)));
  }
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(), 0);
}

// The binary with RLIMIT_NOFILE at `max_files` (soft and hard), stderr to `log`.
// Forked and exec'ed by hand: posix_spawn cannot set a resource limit.
pid_t SpawnWithFileLimit(const std::vector<std::string>& args, rlim_t max_files,
                         const std::string& log) {
  std::vector<std::string> all = {SEMAPHORED_BINARY};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (log_fd < 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    const rlimit limit{max_files, max_files};
    ::setrlimit(RLIMIT_NOFILE, &limit);
    ::dup2(log_fd, STDERR_FILENO);
    ::execve(argv[0], argv.data(), environ);
    ::_exit(127);
  }
  ::close(log_fd);
  return pid;
}

// Waits (bounded) for `pid` to exit; its exit status, or -1 (after SIGKILL) if it
// did not exit in time.
int AwaitExit(pid_t pid, absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (absl::Now() > give_up) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int ConnectTo(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// CVE-2023-4785 for real: a server allowed 64 descriptors is flooded with
// connections until accept() fails; gRPC 1.51.1 then stops accepting for good, even
// once the flood is gone. The self-check notices, logs listener_dead, and the
// process exits with status 3 instead of staying up deaf.
TEST(MainHardeningTest, ServerWhoseListenerDiedOfFdExhaustionExitsWithStatus3) {
  const std::string port_file = TempPath("port_fd");
  const std::string log = TempPath("log_fd");
  ::unlink(port_file.c_str());
  const pid_t pid = SpawnWithFileLimit(
      {"--listen=127.0.0.1:0", "--state_file=", "--log_format=json",
       "--port_file=" + port_file, "--listener_check_interval=200ms",
       "--listener_check_failures=3"},
      64, log);
  ASSERT_GT(pid, 0);
  const int port = AwaitPortFile(port_file);
  ASSERT_GT(port, 0);
  ASSERT_TRUE(HealthServing(port));

  std::vector<int> flood;
  for (int i = 0; i < 100; ++i) {
    const int fd = ConnectTo(port);
    if (fd >= 0) flood.push_back(fd);
  }
  absl::SleepFor(absl::Milliseconds(300));  // the server tries to accept them
  for (int fd : flood) ::close(fd);

  const int status = AwaitExit(pid, absl::Seconds(30));
  const std::string output = ReadFile(log);
  EXPECT_EQ(status, 3) << output;
  EXPECT_THAT(output, HasSubstr("\"event\":\"listener_dead\""));
  EXPECT_THAT(output, HasSubstr("\"trigger\":\"listener_check\""));
  ::unlink(port_file.c_str());
  ::unlink(log.c_str());
}

// The same small limit without a flood: frequent checks leave a healthy server alone.
TEST(MainHardeningTest, FrequentChecksLeaveAHealthyServerRunning) {
  const std::string port_file = TempPath("port_ok");
  const std::string log = TempPath("log_ok");
  ::unlink(port_file.c_str());
  const pid_t pid = SpawnWithFileLimit(
      {"--listen=127.0.0.1:0", "--state_file=", "--port_file=" + port_file,
       "--listener_check_interval=50ms", "--listener_check_failures=2"},
      64, log);
  ASSERT_GT(pid, 0);
  const int port = AwaitPortFile(port_file);
  ASSERT_GT(port, 0);
  // About 20 checks, any two failing in a row would end the server.
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(HealthServing(port));
    absl::SleepFor(absl::Milliseconds(100));
  }
  ::kill(pid, SIGTERM);
  EXPECT_EQ(AwaitExit(pid, absl::Seconds(20)), 0) << ReadFile(log);
  EXPECT_THAT(ReadFile(log), ::testing::Not(HasSubstr("listener_dead")));
  ::unlink(port_file.c_str());
  ::unlink(log.c_str());
}

}  // namespace
}  // namespace semaphored::server::testing
