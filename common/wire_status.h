#ifndef SEMAPHORED_COMMON_WIRE_STATUS_H_
#define SEMAPHORED_COMMON_WIRE_STATUS_H_

// The one mapping between absl::Status and the status codes on the wire (gRPC
// statuses, and the google.rpc.Code numbers in CommandError and SessionEndedEvent),
// shared by the server, the client library and the tools. The codes are the same
// numbers on both sides; codes outside the canonical range 0..16 become UNKNOWN.
// Pure functions, thread-safe.

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/status.h"
#include "semaphored/v1/semaphore.pb.h"

namespace semaphored::internal {

// The gRPC status for `status`: same code, same message; OK stays OK.
grpc::Status ToGrpcStatus(const absl::Status& status);

// A gRPC status as absl::Status: same code, same message; OK stays OK.
absl::Status FromGrpcStatus(const grpc::Status& status);

// A google.rpc.Code number and message (as in CommandError and SessionEndedEvent) as
// an absl::Status. Code 0 is OK (the message dropped): callers that need an error
// whatever the number check ok() themselves.
absl::Status StatusFromCode(int code, absl::string_view message);

// The stream's error answer for `status` (same code and message). An OK status yields
// code UNKNOWN: an error answer never says OK.
v1::CommandError ToCommandError(const absl::Status& status);

}  // namespace semaphored::internal

#endif  // SEMAPHORED_COMMON_WIRE_STATUS_H_
