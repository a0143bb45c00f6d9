#ifndef SEMAPHORED_CLIENT_LIB_SRC_CONVERT_H_
#define SEMAPHORED_CLIENT_LIB_SRC_CONVERT_H_

#include "absl/strings/string_view.h"

#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "semaphored/types.h"
#include "semaphored/v1/semaphore.pb.h"
#include "engine/types.h"

// Conversions between the public value types, the protos and the core's types.
namespace semaphored::internal {

absl::Time TimeFromProto(const google::protobuf::Timestamp& t);
absl::Duration DurationFromProto(const google::protobuf::Duration& d);
google::protobuf::Duration DurationToProto(absl::Duration d);

// `name` fills SemaphoreInfo::name when the state leaves it empty.
SemaphoreInfo InfoFromProto(const semaphored::v1::SemaphoreState& state,
                            absl::string_view name);
SemaphoreInfo InfoFromSnapshot(const engine::SemaphoreSnapshot& snapshot, absl::string_view name);

}  // namespace semaphored::internal

#endif  // SEMAPHORED_CLIENT_LIB_SRC_CONVERT_H_
