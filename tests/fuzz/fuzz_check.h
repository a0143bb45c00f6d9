#ifndef SEMAPHORED_TESTS_FUZZ_FUZZ_CHECK_H_
#define SEMAPHORED_TESTS_FUZZ_FUZZ_CHECK_H_

// FUZZ_CHECK(cond, printf-format, args...): in a fuzz target, prints what failed and
// aborts, which libFuzzer (and the replay driver, by dying) reports as a crash. Active
// in every build mode: fuzz oracles must not vanish under NDEBUG.

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond, ...)                                         \
  do {                                                                \
    if (!(cond)) {                                                    \
      std::fprintf(stderr, "check failed: %s: ", #cond);              \
      std::fprintf(stderr, __VA_ARGS__);                              \
      std::fprintf(stderr, "\n");                                     \
      std::abort();                                                   \
    }                                                                 \
  } while (0)

#endif  // SEMAPHORED_TESTS_FUZZ_FUZZ_CHECK_H_
