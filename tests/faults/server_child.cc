// The fault and load tests' semaphored child process (killed and restarted at will), scratch dirs.

#include "tests/faults/server_child.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace semaphored::testing {

ScratchDir::ScratchDir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/", prefix, "XXXXXX");
  if (::mkdtemp(pattern.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp " << pattern << ": " << std::strerror(errno);
    return;
  }
  path_ = pattern;
}

ScratchDir::~ScratchDir() {
  if (path_.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

absl::StatusOr<std::string> ReadFileText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::Status WriteFileText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ResidentBytes(pid_t pid) {
  absl::StatusOr<std::string> status =
      ReadFileText(absl::StrCat("/proc/", pid, "/status"));
  if (!status.ok()) return status.status();
  std::istringstream lines(*status);
  std::string line;
  while (std::getline(lines, line)) {
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, "VmRSS:")) continue;
    rest = absl::StripAsciiWhitespace(rest);
    if (!absl::ConsumeSuffix(&rest, "kB")) break;
    int64_t kib = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(rest), &kib)) break;
    return kib * 1024;
  }
  return absl::InternalError(absl::StrCat("no VmRSS line in /proc/", pid, "/status"));
}

absl::StatusOr<std::unique_ptr<ServerChild>> ServerChild::Start(
    const std::string& binary, const std::string& dir, const std::string& host, int port,
    const std::vector<std::string>& args, absl::Duration timeout) {
  const std::string port_file = dir + "/port";
  const std::string log_path = dir + "/server.log";
  ::unlink(port_file.c_str());
  std::vector<std::string> argv = {binary, absl::StrCat("--listen=", host, ":", port),
                                   "--port_file=" + port_file};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> c_argv;
  for (std::string& a : argv) c_argv.push_back(a.data());
  c_argv.push_back(nullptr);

  if (::access(binary.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot execute ", binary));
  }
  const int log_fd =
      ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return absl::InternalError(
        absl::StrCat("cannot open ", log_path, ": ", std::strerror(errno)));
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {  // only async-signal-safe calls until exec
    // A test killed by a timeout must not leave its server running.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    ::execv(c_argv[0], c_argv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  std::unique_ptr<ServerChild> child(new ServerChild(pid, host, log_path));

  // The port file is written (through a rename) once the server listens.
  const absl::Time give_up = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<std::string> text = ReadFileText(port_file);
    if (text.ok() && absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &child->port_)) {
      return child;
    }
    if (child->Reap(absl::ZeroDuration()) != -1) {
      return absl::UnavailableError(
          absl::StrCat("semaphored exited before listening; log:\n", child->LogTail()));
    }
    if (absl::Now() > give_up) {
      return absl::DeadlineExceededError(absl::StrCat("semaphored did not listen within ",
                                                      absl::FormatDuration(timeout),
                                                      "; log:\n", child->LogTail()));
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
}

ServerChild::~ServerChild() { Kill(); }

int ServerChild::Reap(absl::Duration timeout) {
  if (reaped_) return -1;
  const absl::Time give_up = absl::Now() + timeout;
  while (true) {
    int status = 0;
    const pid_t got = ::waitpid(pid_, &status, WNOHANG);
    if (got == pid_) {
      reaped_ = true;
      return status;
    }
    if (absl::Now() >= give_up) return -1;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

bool ServerChild::Kill() {
  if (pid_ <= 0 || reaped_) return true;
  ::kill(pid_, SIGKILL);
  return Reap(absl::Seconds(10)) != -1;
}

absl::StatusOr<int> ServerChild::Terminate(absl::Duration timeout) {
  if (reaped_) return absl::FailedPreconditionError("the server was already reaped");
  ::kill(pid_, SIGTERM);
  return AwaitExit(timeout);
}

absl::StatusOr<int> ServerChild::AwaitExit(absl::Duration timeout) {
  if (reaped_) return absl::FailedPreconditionError("the server was already reaped");
  const int status = Reap(timeout);
  if (status == -1) {
    return absl::DeadlineExceededError(
        absl::StrCat("semaphored did not exit within ", absl::FormatDuration(timeout)));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string ServerChild::address() const { return absl::StrCat(host_, ":", port_); }

std::string ServerChild::LogTail(size_t max_bytes) const {
  absl::StatusOr<std::string> text = ReadFileText(log_path_);
  if (!text.ok()) return text.status().ToString();
  if (text->size() <= max_bytes) return *text;
  return "..." + text->substr(text->size() - max_bytes);
}

}  // namespace semaphored::testing
