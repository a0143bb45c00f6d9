// Synchronous signal handling for semctl (see signals.h).

#include "signals.h"

#include <signal.h>

#include <cerrno>
#include <ctime>

namespace semaphored::semctl {

namespace {

sigset_t original_mask;

sigset_t HandledSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGCHLD);
  return set;
}

}  // namespace

void BlockSignals() {
  sigset_t set = HandledSignals();
  pthread_sigmask(SIG_BLOCK, &set, &original_mask);
}

void RestoreSignalMask() { pthread_sigmask(SIG_SETMASK, &original_mask, nullptr); }

int WaitSignal(absl::Duration timeout) {
  sigset_t set = HandledSignals();
  timespec ts = absl::ToTimespec(timeout);
  int sig = sigtimedwait(&set, nullptr, &ts);
  return sig > 0 ? sig : 0;  // EAGAIN (timeout) or EINTR: none
}

}  // namespace semaphored::semctl
