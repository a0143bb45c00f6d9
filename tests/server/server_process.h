#ifndef SEMAPHORED_TESTS_SERVER_SERVER_PROCESS_H_
#define SEMAPHORED_TESTS_SERVER_SERVER_PROCESS_H_

// The semaphored binary (SEMAPHORED_BINARY, a compile definition) as a child process
// whose stderr is read through a pipe, for the tests that drive the real binary.
// Every wait is bounded by kRpcDeadline.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "tests/server/test_server.h"

extern char** environ;

namespace semaphored::server::testing {

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

inline std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/semaphored_main_test_", getpid(),
                      "_", name);
}

// The port from "semaphored: listening on 127.0.0.1:PORT".
inline int PortOf(const std::string& line) {
  absl::string_view rest = line;
  if (!absl::ConsumePrefix(&rest, "semaphored: listening on 127.0.0.1:")) return 0;
  return std::atoi(std::string(rest).c_str());
}

inline std::unique_ptr<v1::SemaphoreService::Stub> StubFor(int port) {
  return v1::SemaphoreService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
}

// Bearer metadata for the admin service.
inline std::unique_ptr<grpc::ClientContext> BearerCtx(const std::string& token) {
  std::unique_ptr<grpc::ClientContext> context = Ctx();
  context->AddMetadata("authorization", "Bearer " + token);
  return context;
}

}  // namespace semaphored::server::testing

#endif  // SEMAPHORED_TESTS_SERVER_SERVER_PROCESS_H_
