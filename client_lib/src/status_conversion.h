#ifndef SEMAPHORED_CLIENT_LIB_SRC_STATUS_CONVERSION_H_
#define SEMAPHORED_CLIENT_LIB_SRC_STATUS_CONVERSION_H_

#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace semaphored::internal {

// A google.rpc.Code number and message (as in CommandError and SessionEndedEvent) as
// an absl::Status. Unknown numbers become UNKNOWN.
absl::Status StatusFromCode(int code, absl::string_view message);

// THE conversion of a gRPC status to absl::Status (the codes are the same numbers).
absl::Status StatusFromGrpc(const grpc::Status& status);

}  // namespace semaphored::internal

#endif  // SEMAPHORED_CLIENT_LIB_SRC_STATUS_CONVERSION_H_
