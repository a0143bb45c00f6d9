// The one mapping between absl::Status and the wire's status codes.

#include "common/wire_status.h"

#include <string>

namespace semaphored::internal {
namespace {

// Codes 0..16 are the canonical ones shared by absl, gRPC and google.rpc.Code.
constexpr int kMaxCanonicalCode = 16;

int CanonicalCodeOrUnknown(int code) {
  return code >= 0 && code <= kMaxCanonicalCode
             ? code
             : static_cast<int>(absl::StatusCode::kUnknown);
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const int code = CanonicalCodeOrUnknown(static_cast<int>(status.code()));
  return grpc::Status(static_cast<grpc::StatusCode>(code), std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  return StatusFromCode(static_cast<int>(status.error_code()), status.error_message());
}

absl::Status StatusFromCode(int code, absl::string_view message) {
  if (code == 0) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(CanonicalCodeOrUnknown(code)),
                      message);
}

v1::CommandError ToCommandError(const absl::Status& status) {
  v1::CommandError error;
  int code = CanonicalCodeOrUnknown(static_cast<int>(status.code()));
  if (code == 0) code = static_cast<int>(absl::StatusCode::kUnknown);
  error.set_code(code);
  error.set_message(std::string(status.message()));
  return error;
}

}  // namespace semaphored::internal
