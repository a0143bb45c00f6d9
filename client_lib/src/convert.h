#ifndef SEMAPHORED_CLIENT_LIB_SRC_CONVERT_H_
#define SEMAPHORED_CLIENT_LIB_SRC_CONVERT_H_

#include "absl/strings/string_view.h"

#include "absl/time/time.h"
#include "semaphored/types.h"
#include "semaphored/v1/semaphore.pb.h"
#include "engine/types.h"

// Conversions between the public value types, the protos and the engine's types (the
// proto time helpers are in common/proto_time.h).
namespace semaphored::internal {

// `name` fills SemaphoreInfo::name when the state leaves it empty.
SemaphoreInfo InfoFromProto(const semaphored::v1::SemaphoreState& state,
                            absl::string_view name);
SemaphoreInfo InfoFromSnapshot(const engine::SemaphoreSnapshot& snapshot, absl::string_view name);

}  // namespace semaphored::internal

#endif  // SEMAPHORED_CLIENT_LIB_SRC_CONVERT_H_
