// The attack suite's attacked server: semaphored as a child process, in its own memory cgroup.

#include "tests/attacks/attacked_server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace semaphored::testing {
namespace {

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  return out.good();
}

// The number after `key` in a "key value" or "Key:   value kB" text; -1 if absent.
int64_t FieldOf(const std::string& text, absl::string_view key) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::ConsumePrefix(&line, key)) continue;
    line = absl::StripAsciiWhitespace(line);
    absl::ConsumeSuffix(&line, "kB");
    int64_t value = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &value)) return value;
  }
  return -1;
}

std::string SignalName(int sig) {
  const char* name = sigabbrev_np(sig);
  return name != nullptr ? absl::StrCat("SIG", name) : absl::StrCat("signal ", sig);
}

std::atomic<int> cgroup_serial{0};

}  // namespace

void AttackedServer::MakeCgroup() {
  // /proc/self/cgroup: "ID:CONTROLLERS:PATH" per hierarchy; v2's is "0::PATH".
  std::string v1_path, v2_path;
  for (absl::string_view line : absl::StrSplit(ReadText("/proc/self/cgroup"), '\n')) {
    std::vector<std::string> parts = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (parts.size() != 3) continue;
    if (parts[1].empty()) v2_path = parts[2];
    for (absl::string_view c : absl::StrSplit(parts[1], ',')) {
      if (c == "memory") v1_path = parts[2];
    }
  }
  const std::string leaf =
      absl::StrCat("semaphored-attack-", ::getpid(), "-", cgroup_serial.fetch_add(1));
  std::string why;
  if (!v1_path.empty()) {
    const std::string parent = "/sys/fs/cgroup/memory" + v1_path;
    const std::string dir = absl::StrCat(parent, parent.back() == '/' ? "" : "/", leaf);
    if (::mkdir(dir.c_str(), 0755) == 0) {
      if (WriteText(dir + "/memory.limit_in_bytes", absl::StrCat(options_.memory_limit))) {
        cgroup_ = dir;
        cgroup_version_ = 1;
        memory_bound_ = "cgroup v1 " + dir;
        return;
      }
      ::rmdir(dir.c_str());
      why = "cannot set memory.limit_in_bytes";
    } else {
      why = absl::StrCat("mkdir ", dir, ": ", std::strerror(errno));
    }
  } else if (absl::StrContains(ReadText("/sys/fs/cgroup/cgroup.controllers"), "memory")) {
    // cgroup v2: a child of our own cgroup, with the memory controller delegated to
    // it (which the kernel refuses when our cgroup itself holds processes, unless it
    // is the root).
    const std::string parent = "/sys/fs/cgroup" + v2_path;
    WriteText(parent + "/cgroup.subtree_control", "+memory");
    const std::string dir = absl::StrCat(parent, parent.back() == '/' ? "" : "/", leaf);
    if (::mkdir(dir.c_str(), 0755) == 0) {
      if (WriteText(dir + "/memory.max", absl::StrCat(options_.memory_limit))) {
        WriteText(dir + "/memory.swap.max", "0");
        cgroup_ = dir;
        cgroup_version_ = 2;
        memory_bound_ = "cgroup v2 " + dir;
        return;
      }
      ::rmdir(dir.c_str());
      why = "the memory controller is not delegated to our cgroup";
    } else {
      why = absl::StrCat("mkdir ", dir, ": ", std::strerror(errno));
    }
  } else {
    why = "no cgroup memory controller";
  }
  memory_bound_ = absl::StrCat("watchdog (no cgroup: ", why, ")");
}

absl::StatusOr<std::unique_ptr<AttackedServer>> AttackedServer::Start(
    AttackedServerOptions options) {
  std::unique_ptr<AttackedServer> server(new AttackedServer(std::move(options)));
  const AttackedServerOptions& o = server->options_;
  if (::access(o.binary.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot execute ", o.binary));
  }
  server->MakeCgroup();
  const std::string port_file = o.dir + "/port";
  server->log_path_ = o.dir + "/server.log";
  ::unlink(port_file.c_str());
  std::vector<std::string> argv = {o.binary, "--listen=127.0.0.1:0",
                                   "--port_file=" + port_file,
                                   "--state_file=" + o.dir + "/state"};
  if (o.metrics) argv.push_back("--metrics_address=127.0.0.1:0");
  argv.insert(argv.end(), o.args.begin(), o.args.end());
  std::vector<char*> c_argv;
  for (std::string& a : argv) c_argv.push_back(a.data());
  c_argv.push_back(nullptr);
  const int log_fd =
      ::open(server->log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return absl::InternalError(absl::StrCat("open ", server->log_path_));
  const std::string procs = server->cgroup_.empty() ? "" : server->cgroup_ + "/cgroup.procs";
  rlimit files;
  ::getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = std::min<rlim_t>(files.rlim_max, o.open_files_soft_limit);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {  // only async-signal-safe calls until exec
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a test killed by its timeout
    if (::getppid() != parent) ::_exit(127);
    if (!procs.empty()) {
      const int fd = ::open(procs.c_str(), O_WRONLY);
      if (fd >= 0) {
        [[maybe_unused]] ssize_t ignored = ::write(fd, "0", 1);  // "0": this process
        ::close(fd);
      }
    }
    ::setrlimit(RLIMIT_NOFILE, &files);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    ::execv(c_argv[0], c_argv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  server->pid_ = pid;

  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (server->port_ == 0) {
    int port = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadText(port_file)), &port) && port > 0) {
      server->port_ = port;
      break;
    }
    if (!server->Alive() || absl::Now() > give_up) {
      return absl::UnavailableError(absl::StrCat(
          "semaphored did not start (", server->ExitDescription(), "); log:\n",
          server->LogTail()));
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  // The metrics port is in the start line, which follows the port file.
  while (o.metrics && server->metrics_port_ == 0) {
    const std::string log = ReadText(server->log_path_);
    const std::string kMarker = "http://127.0.0.1:";
    if (const size_t at = log.find(kMarker); at != std::string::npos) {
      const size_t start = at + kMarker.size();
      absl::SimpleAtoi(log.substr(start, log.find('/', start) - start), &server->metrics_port_);
      if (server->metrics_port_ == 0) return absl::InternalError("unreadable metrics port");
      break;
    }
    if (absl::Now() > give_up) {
      return absl::DeadlineExceededError(
          absl::StrCat("no metrics address in the log:\n", server->LogTail()));
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  // Check that the server did join its cgroup.
  if (!server->cgroup_.empty()) {
    const std::string leaf = server->cgroup_.substr(server->cgroup_.rfind('/'));
    if (!absl::StrContains(ReadText(absl::StrCat("/proc/", pid, "/cgroup")), leaf)) {
      server->memory_bound_ =
          absl::StrCat("watchdog (no cgroup: the server did not join ", server->cgroup_, ")");
    }
  }
  return server;
}

AttackedServer::~AttackedServer() {
  Kill();
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (Alive() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
  if (!cgroup_.empty()) {
    // The cgroup empties once the killed process is fully gone.
    for (int i = 0; i < 200 && ::rmdir(cgroup_.c_str()) != 0 && errno == EBUSY; ++i) {
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
}

std::string AttackedServer::grpc_address() const { return absl::StrCat("127.0.0.1:", port_); }

std::string AttackedServer::metrics_address() const {
  return metrics_port_ == 0 ? "" : absl::StrCat("127.0.0.1:", metrics_port_);
}

bool AttackedServer::Alive() {
  absl::MutexLock lock(&mu_);
  if (reaped_) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    reaped_ = true;
    wait_status_ = status;
    return false;
  }
  return true;
}

std::string AttackedServer::ExitDescription() {
  if (Alive()) return "running";
  absl::MutexLock lock(&mu_);
  if (WIFEXITED(wait_status_)) return absl::StrCat("exit status ", WEXITSTATUS(wait_status_));
  const int sig = WTERMSIG(wait_status_);
  std::string text = absl::StrCat("killed by ", SignalName(sig));
  if (sig == SIGKILL && OomKills() > 0) {
    absl::StrAppend(&text, " (OOM killer in its cgroup, limit ", options_.memory_limit >> 20,
                    " MiB)");
  }
  return text;
}

absl::StatusOr<AttackedServer::Memory> AttackedServer::ReadMemory() const {
  const std::string status = ReadText(absl::StrCat("/proc/", pid_, "/status"));
  Memory m;
  m.rss = FieldOf(status, "VmRSS:");
  m.hwm = FieldOf(status, "VmHWM:");
  if (m.rss < 0 || m.hwm < 0) return absl::NotFoundError("the server is gone");
  m.rss *= 1024;
  m.hwm *= 1024;
  return m;
}

int64_t AttackedServer::OomKills() const {
  if (cgroup_.empty()) return 0;
  const std::string file = cgroup_version_ == 1 ? "/memory.oom_control" : "/memory.events";
  return std::max<int64_t>(0, FieldOf(ReadText(cgroup_ + file), "oom_kill "));
}

int64_t AttackedServer::CgroupPeak() const {
  if (cgroup_.empty()) return -1;
  const std::string file =
      cgroup_ + (cgroup_version_ == 1 ? "/memory.max_usage_in_bytes" : "/memory.peak");
  int64_t peak = -1;
  return absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadText(file)), &peak) ? peak : -1;
}

void AttackedServer::Kill() {
  absl::MutexLock lock(&mu_);
  if (!reaped_ && pid_ > 0) ::kill(pid_, SIGKILL);
}

int64_t AttackedServer::LogBytes() const {
  struct stat st;
  return ::stat(log_path_.c_str(), &st) == 0 ? st.st_size : 0;
}

std::string AttackedServer::LogTail(size_t max_bytes) const {
  const std::string text = ReadText(log_path_);
  return text.size() <= max_bytes ? text : "..." + text.substr(text.size() - max_bytes);
}

}  // namespace semaphored::testing
