// The fault tests' network namespace, joined to the host by a veth pair, made and removed by `ip`.

#include "tests/faults/netns.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace semaphored::testing {

namespace {

constexpr char kNsPrefix[] = "smfault";
constexpr char kHostIfPrefix[] = "smfh";
constexpr char kNsIfPrefix[] = "smfn";

// Reads `fd` to its end or to `give_up`; false on timeout.
bool ReadAll(int fd, absl::Time give_up, std::string* out) {
  while (true) {
    const absl::Duration left = give_up - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd p{fd, POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    char chunk[4096];
    const ssize_t got = ::read(fd, chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return true;
    out->append(chunk, static_cast<size_t>(got));
  }
}

// True when `name` is PREFIX<PID> for a process that no longer exists.
bool IsStale(absl::string_view name, absl::string_view prefix) {
  if (!absl::ConsumePrefix(&name, prefix)) return false;
  int pid = 0;
  if (!absl::SimpleAtoi(name, &pid) || pid <= 0 || pid == ::getpid()) return false;
  return ::kill(pid, 0) != 0 && errno == ESRCH;
}

// Deletes namespaces and host veth ends left by runs that died before cleaning up.
void DeleteStale(const std::string& ip) {
  if (absl::StatusOr<std::string> list = RunCommand({ip, "netns", "list"}); list.ok()) {
    std::istringstream lines(*list);
    std::string line;
    while (std::getline(lines, line)) {
      const std::string name = line.substr(0, line.find(' '));
      if (IsStale(name, kNsPrefix)) RunCommand({ip, "netns", "del", name}).IgnoreError();
    }
  }
  if (absl::StatusOr<std::string> links = RunCommand({ip, "-o", "link", "show"});
      links.ok()) {
    std::istringstream lines(*links);
    std::string line;
    while (std::getline(lines, line)) {
      // "207: smfh18939@if206: <NO-CARRIER,...> ..."
      const size_t start = line.find(": ");
      if (start == std::string::npos) continue;
      std::string name = line.substr(start + 2);
      name = name.substr(0, name.find_first_of("@:"));
      if (IsStale(name, kHostIfPrefix)) {
        RunCommand({ip, "link", "del", name}).IgnoreError();
      }
    }
  }
}

}  // namespace

std::string IpBinary() {
  for (const char* path : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
    if (::access(path, X_OK) == 0) return path;
  }
  return "";
}

absl::StatusOr<std::string> RunCommand(const std::vector<std::string>& argv,
                                       absl::Duration timeout) {
  if (argv.empty() || ::access(argv[0].c_str(), X_OK) != 0) {
    return absl::NotFoundError(
        absl::StrCat("cannot execute \"", argv.empty() ? "" : argv[0], "\""));
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  const pid_t pid = ::fork();
  if (pid == 0) {  // only async-signal-safe calls until exec
    const int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, STDIN_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(out[1], STDERR_FILENO);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(out[1]);
  if (pid < 0) {
    ::close(out[0]);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  std::string output;
  const bool finished = ReadAll(out[0], absl::Now() + timeout, &output);
  ::close(out[0]);
  if (!finished) ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  const std::string command = absl::StrJoin(argv, " ");
  if (!finished) {
    return absl::DeadlineExceededError(absl::StrCat(
        "\"", command, "\" did not finish within ", absl::FormatDuration(timeout)));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(
        absl::StrCat("\"", command, "\" failed (wait status ", status, "): ", output));
  }
  return output;
}

absl::StatusOr<std::unique_ptr<VethNamespace>> VethNamespace::Create() {
  const std::string ip = IpBinary();
  if (ip.empty()) {
    return absl::FailedPreconditionError(
        "iproute2's `ip` is not installed (looked in /usr/sbin, /sbin, /usr/bin, /bin)");
  }
  DeleteStale(ip);
  std::unique_ptr<VethNamespace> ns(new VethNamespace());
  const int pid = ::getpid();
  ns->name_ = absl::StrCat(kNsPrefix, pid);
  ns->host_if_ = absl::StrCat(kHostIfPrefix, pid);
  ns->ns_if_ = absl::StrCat(kNsIfPrefix, pid);
  // One /30 of 10.201.0.0/16 per process id: .1 is the host end, .2 the namespace's.
  const int base = (pid % 16384) * 4;
  const std::string net = absl::StrCat("10.201.", base / 256, ".");
  ns->host_address_ = absl::StrCat(net, base % 256 + 1);
  ns->ns_address_ = absl::StrCat(net, base % 256 + 2);
  ns->Teardown();  // a leftover of a run with this same pid
  if (absl::Status s = ns->Setup(); !s.ok()) {
    ns->Teardown();
    if (absl::StrContains(s.message(), "Operation not permitted") ||
        absl::StrContains(s.message(), "Permission denied")) {
      return absl::PermissionDeniedError(
          absl::StrCat("this process may not create network namespaces (needs root or "
                       "CAP_SYS_ADMIN + CAP_NET_ADMIN): ",
                       s.message()));
    }
    return s;
  }
  return ns;
}

absl::Status VethNamespace::Setup() {
  const std::string ip = IpBinary();
  const std::vector<std::vector<std::string>> steps = {
      {ip, "netns", "add", name_},
      {ip, "link", "add", host_if_, "type", "veth", "peer", "name", ns_if_, "netns",
       name_},
      {ip, "addr", "add", host_address_ + "/30", "dev", host_if_},
      {ip, "link", "set", host_if_, "up"},
      {ip, "-n", name_, "addr", "add", ns_address_ + "/30", "dev", ns_if_},
      {ip, "-n", name_, "link", "set", ns_if_, "up"},
      {ip, "-n", name_, "link", "set", "lo", "up"},
  };
  for (const std::vector<std::string>& step : steps) {
    if (absl::StatusOr<std::string> done = RunCommand(step); !done.ok()) {
      return done.status();
    }
  }
  return absl::OkStatus();
}

void VethNamespace::Teardown() {
  const std::string ip = IpBinary();
  // Deleting the namespace destroys the veth pair; the link delete covers a pair that
  // never made it into the namespace. Either may find nothing to delete.
  RunCommand({ip, "netns", "del", name_}).IgnoreError();
  RunCommand({ip, "link", "del", host_if_}).IgnoreError();
}

VethNamespace::~VethNamespace() { Teardown(); }

absl::Status VethNamespace::SetLink(bool up) {
  return RunCommand({IpBinary(), "-n", name_, "link", "set", ns_if_, up ? "up" : "down"})
      .status();
}

std::vector<std::string> VethNamespace::InNamespace(
    const std::vector<std::string>& argv) const {
  std::vector<std::string> full = {IpBinary(), "netns", "exec", name_};
  full.insert(full.end(), argv.begin(), argv.end());
  return full;
}

}  // namespace semaphored::testing
