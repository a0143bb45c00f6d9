#ifndef SEMAPHORED_CLIENT_LIB_SRC_PERMIT_ACCESS_H_
#define SEMAPHORED_CLIENT_LIB_SRC_PERMIT_ACCESS_H_

#include <string_view>

#include "grant_or_state.h"
#include "semaphored/permit.h"

namespace semaphored::internal {

// Builds Permits (their constructor is private to the public API).
class PermitAccess {
 public:
  // A Permit for `name` from a backend's answer to a set.
  static Permit Make(std::string_view name, GrantOrState answer);
};

}  // namespace semaphored::internal

#endif  // SEMAPHORED_CLIENT_LIB_SRC_PERMIT_ACCESS_H_
