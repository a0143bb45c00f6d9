#ifndef SEMAPHORED_SEMAPHORED_H_
#define SEMAPHORED_SEMAPHORED_H_

// The whole public API of the semaphored client library.

#include "semaphored/client.h"   // IWYU pragma: export
#include "semaphored/errors.h"   // IWYU pragma: export
#include "semaphored/fourd.h"    // IWYU pragma: export
#include "semaphored/permit.h"   // IWYU pragma: export
#include "semaphored/session.h"  // IWYU pragma: export
#include "semaphored/types.h"    // IWYU pragma: export

#endif  // SEMAPHORED_SEMAPHORED_H_
