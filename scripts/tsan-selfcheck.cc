// Compiled and run by scripts/tsan-selfcheck.sh: proves that a TSan build sees races
// and sees absl::Mutex.
//   tsan-selfcheck race    two threads write one int unguarded: TSan must report.
//   tsan-selfcheck mutex   the same writes under absl::Mutex, and a hand-off through
//                          absl::Notification: TSan must stay quiet — when Abseil is
//                          the instrumented one. With the system's Abseil it reports
//                          (that is the false positive the instrumented copy removes).

#include <cstdio>
#include <cstring>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

namespace {

constexpr int kRounds = 20000;

int RacyCount() {
  int count = 0;
  auto work = [&count] {
    for (int i = 0; i < kRounds; ++i) ++count;  // the deliberate race
  };
  std::thread a(work), b(work);
  a.join();
  b.join();
  return count;
}

struct Guarded {
  absl::Mutex mu;
  int count ABSL_GUARDED_BY(mu) = 0;
};

int MutexCount() {
  Guarded g;
  auto work = [&g] {
    for (int i = 0; i < kRounds; ++i) {
      absl::MutexLock lock(&g.mu);
      ++g.count;
    }
  };
  std::thread a(work), b(work);
  a.join();
  b.join();
  // Plain data handed over by a Notification, read on another thread.
  int handed = 0;
  absl::Notification ready;
  std::thread producer([&] {
    handed = 42;
    ready.Notify();
  });
  ready.WaitForNotification();
  const int seen = handed;
  producer.join();
  absl::MutexLock lock(&g.mu);
  return g.count + seen;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "race") == 0) {
    std::printf("race: %d\n", RacyCount());
    return 0;
  }
  if (argc == 2 && std::strcmp(argv[1], "mutex") == 0) {
    std::printf("mutex: %d\n", MutexCount());
    return 0;
  }
  std::fprintf(stderr, "usage: %s race|mutex\n", argv[0]);
  return 2;
}
