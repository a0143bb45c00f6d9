#ifndef SEMAPHORED_TESTS_TORTURE_WORKLOAD_H_
#define SEMAPHORED_TESTS_TORTURE_WORKLOAD_H_

// The semaphores the torture workers contend on: a handful of names with limits 1-3,
// few enough that every name is contended all the time.

#include <cstdint>

namespace semaphored::torture {

struct NameSpec {
  const char* name;
  int32_t limit;
};

inline constexpr NameSpec kNames[] = {
    {"torture/a", 1}, {"torture/b", 1}, {"torture/c", 2}, {"torture/d", 3}, {"torture/e", 2},
};

}  // namespace semaphored::torture

#endif  // SEMAPHORED_TESTS_TORTURE_WORKLOAD_H_
