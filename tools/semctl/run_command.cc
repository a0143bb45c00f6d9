// semctl run NAME -- COMMAND: holds a global semaphore while a command runs, as
// flock(1) does for files.
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "commands.h"
#include "session_util.h"
#include "signals.h"

namespace semaphored::semctl {

namespace {

// fork + exec; the child gets semctl's original signal mask. Returns the pid, or -1.
pid_t StartChild(const std::vector<std::string>& command) {
  std::vector<char*> argv;
  for (const std::string& arg : command) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid != 0) return pid;
  RestoreSignalMask();
  execvp(argv[0], argv.data());
  int error = errno;
  std::fprintf(stderr, "semctl: cannot run %s: %s\n", argv[0], std::strerror(error));
  _exit(error == ENOENT ? 127 : 126);
}

// The exit code a shell would give for `wait_status`.
int ShellCode(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return kOtherError;
}

// Watches the child until it exits; stops it (`stop_signal`, then SIGKILL after the
// grace period) when semctl gets a signal or the permit is lost. Returns its wait
// status; sets `lost` when the permit was lost while it ran.
int Supervise(pid_t child, const Permit& permit, absl::Duration grace, bool& lost) {
  absl::Time kill_at = absl::InfiniteFuture();
  bool stopping = false;
  lost = false;
  for (;;) {
    int status = 0;
    pid_t done = waitpid(child, &status, WNOHANG);
    if (done == child) return status;
    if (done < 0 && errno != EINTR) return 0;
    if (absl::Now() >= kill_at) {
      kill(child, SIGKILL);
      kill_at = absl::InfiniteFuture();
    }
    int sig = WaitSignal(absl::Milliseconds(100));
    int stop = 0;
    if (sig != 0 && sig != SIGCHLD) stop = sig;  // forward what semctl got
    if (!lost && !permit.held()) {
      lost = true;
      stop = SIGTERM;
      std::fprintf(stderr, "semctl: lost %s while the command ran (%s); stopping it\n",
                   permit.name().c_str(), std::string(permit.status().message()).c_str());
    }
    if (stop != 0) {
      kill(child, stop);
      if (!stopping) kill_at = absl::Now() + grace;
      stopping = true;
    }
  }
}

}  // namespace

int RunCommand(const Options& o) {
  if (o.args.size() != 1 || o.argv.empty()) {
    return Fail(kUsage, "usage: semctl run NAME [--wait D] [--limit N] -- COMMAND [ARG...]");
  }
  const std::string& name = o.args[0];
  if (absl::Status s = CheckGlobalName(name); !s.ok()) {
    return Fail(kUsage, std::string(s.message()));
  }
  HeldName held;
  if (int code = AcquireForCommand(o, name, held); code != kOk) return code;
  Permit& permit = *held.permit;

  pid_t child = StartChild(o.argv);
  if (child < 0) {
    return Fail(kOtherError, absl::StrCat("cannot fork: ", std::strerror(errno)));
  }
  bool lost = false;
  int status = Supervise(child, permit, o.grace, lost);
  if (lost) {
    (void)held.session->Close();
    return Fail(kSessionLost, absl::StrCat("the command `", absl::StrJoin(o.argv, " "),
                                           "` was stopped because ", name,
                                           " was lost (exit status ", ShellCode(status), ")"));
  }
  absl::Status released = permit.Release();
  (void)held.session->Close();
  if (!released.ok()) {
    std::fprintf(stderr, "semctl: warning: releasing %s: %s\n", name.c_str(),
                 std::string(released.message()).c_str());
  }
  return ShellCode(status);
}

}  // namespace semaphored::semctl
