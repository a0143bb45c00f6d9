#ifndef SEMAPHORED_CLIENT_LIB_SRC_WAIT_H_
#define SEMAPHORED_CLIENT_LIB_SRC_WAIT_H_

#include <thread>

#include "absl/synchronization/notification.h"

namespace semaphored::internal {

// Waits for `done`, yielding the CPU a few times before sleeping: answers often come
// within microseconds (a local hand-on, a server on loopback), and a thread that has
// gone to sleep costs each of them a futex wake and a context switch. Measured on 2
// cores: contended local handoffs/s 80,000 -> 200,000; 64 sessions' pairs/s
// 0.66-0.84 x -> 0.82-1.08 x the stream floor.
inline void AwaitAnswer(absl::Notification& done) {
  constexpr int kYieldsBeforeSleep = 64;
  for (int i = 0; i < kYieldsBeforeSleep && !done.HasBeenNotified(); ++i) {
    std::this_thread::yield();
  }
  done.WaitForNotification();
}

}  // namespace semaphored::internal

#endif  // SEMAPHORED_CLIENT_LIB_SRC_WAIT_H_
