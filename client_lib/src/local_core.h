#ifndef SEMAPHORED_CLIENT_LIB_SRC_LOCAL_CORE_H_
#define SEMAPHORED_CLIENT_LIB_SRC_LOCAL_CORE_H_

#include "common/clock.h"
#include "engine/core.h"

namespace semaphored::internal {

// Where local '$' semaphores live: an engine Core and the clock its deadlines are in.
struct LocalCore {
  engine::Core* core = nullptr;
  Clock* clock = nullptr;
};

// The process-wide core for '$' semaphores: the engine the server runs (so local
// semantics are exactly the global ones), with CoreOptions::InProcess() (sessions that
// never expire), counter fencing tokens, and a Ticker for wait deadlines. Created on
// first use and never destroyed (sessions may end during static destruction).
// Thread-safe.
LocalCore ProcessLocalCore();

}  // namespace semaphored::internal

#endif  // SEMAPHORED_CLIENT_LIB_SRC_LOCAL_CORE_H_
