#ifndef SEMAPHORED_TOOLS_SEMCTL_SIGNALS_H_
#define SEMAPHORED_TOOLS_SEMCTL_SIGNALS_H_

// semctl receives SIGINT, SIGTERM, SIGHUP and SIGCHLD synchronously: BlockSignals()
// blocks them first thing in main, before any thread starts, so that every thread
// inherits the mask and only WaitSignal() (in the main thread) ever takes them.

#include "absl/time/time.h"

namespace semaphored::semctl {

// Blocks the signals above in the calling thread. Call before any thread exists.
void BlockSignals();
// Restores the mask semctl started with; for a child between fork and exec.
void RestoreSignalMask();
// Waits up to `timeout` for one of the blocked signals: returns its number, or 0
// when none came. Never blocks longer than `timeout`.
int WaitSignal(absl::Duration timeout);

}  // namespace semaphored::semctl

#endif  // SEMAPHORED_TOOLS_SEMCTL_SIGNALS_H_
