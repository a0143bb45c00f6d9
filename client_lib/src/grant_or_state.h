#ifndef SEMAPHORED_CLIENT_LIB_SRC_GRANT_OR_STATE_H_
#define SEMAPHORED_CLIENT_LIB_SRC_GRANT_OR_STATE_H_

#include <memory>

#include "grant_state.h"
#include "semaphored/types.h"

namespace semaphored::internal {

// What a session backend answers to a set: the grant when acquired (possibly shared
// with earlier Permits: already_held), or the semaphore's state when not. Session
// turns it into a Permit or a SetResult.
struct GrantOrState {
  bool acquired = false;
  bool already_held = false;
  SemaphoreInfo state;  // when not acquired
  std::shared_ptr<GrantState> grant;  // when acquired
};

}  // namespace semaphored::internal

#endif  // SEMAPHORED_CLIENT_LIB_SRC_GRANT_OR_STATE_H_
