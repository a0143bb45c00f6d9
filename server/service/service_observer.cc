#include "server/service/service_observer.h"

#include "common/wire_status.h"

namespace semaphored::internal {

ServiceObserver* ServiceObserver::Null() {
  static ServiceObserver* const kNull = new ServiceObserver;
  return kNull;
}

grpc::Status AnswerStatus(ServiceObserver& observer, const absl::Status& status) {
  if (!status.ok()) observer.OnError(status.code());
  return ToGrpcStatus(status);
}

v1::CommandError AnswerError(ServiceObserver& observer, const absl::Status& status) {
  observer.OnError(status.ok() ? absl::StatusCode::kUnknown : status.code());
  return ToCommandError(status);
}

}  // namespace semaphored::internal
