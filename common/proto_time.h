#ifndef SEMAPHORED_COMMON_PROTO_TIME_H_
#define SEMAPHORED_COMMON_PROTO_TIME_H_

// The one set of conversions between absl time types and the protobuf well-known
// Duration and Timestamp (and gRPC call deadlines), shared by the server, the client
// library and the tools. Pure functions, thread-safe; safe on any parsed message.

#include <chrono>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace semaphored::internal {

// A proto Duration as absl::Duration. INVALID_ARGUMENT (naming `field`) when the
// message is not a valid Duration: nanos outside +-999999999, seconds beyond
// +-315576000000, or seconds and nanos of opposite signs.
absl::StatusOr<absl::Duration> FromProtoDuration(const google::protobuf::Duration& d,
                                                 absl::string_view field);
// absl::Duration as a proto Duration, clamped to the representable range (so infinite
// durations become its ends).
google::protobuf::Duration ToProtoDuration(absl::Duration d);

// absl::Time as a proto Timestamp, clamped to years 0001..9999 (so infinite times
// become the ends of that range).
google::protobuf::Timestamp ToProtoTimestamp(absl::Time t);
// A proto Timestamp as absl::Time, as given (no range check: a server's own
// timestamps are in range; any int64 seconds and int32 nanos give a finite time).
absl::Time FromProtoTimestamp(const google::protobuf::Timestamp& t);

// The absl::Time of a gRPC call deadline given as a system_clock time point;
// InfiniteFuture() for time_point::max() (no deadline).
absl::Time FromCallDeadline(std::chrono::system_clock::time_point deadline);

}  // namespace semaphored::internal

#endif  // SEMAPHORED_COMMON_PROTO_TIME_H_
