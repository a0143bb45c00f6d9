// The null CallObserver and the one way a status becomes an answer.

#include "server/service/call_observer.h"

#include "common/wire_status.h"

namespace semaphored::server {

using ::semaphored::internal::ToCommandError;
using ::semaphored::internal::ToGrpcStatus;

CallObserver* CallObserver::Null() {
  static CallObserver* const kNull = new CallObserver;
  return kNull;
}

grpc::Status AnswerStatus(CallObserver& observer, const absl::Status& status) {
  if (!status.ok()) observer.OnError(status.code());
  return ToGrpcStatus(status);
}

v1::CommandError AnswerError(CallObserver& observer, const absl::Status& status) {
  observer.OnError(status.ok() ? absl::StatusCode::kUnknown : status.code());
  return ToCommandError(status);
}

}  // namespace semaphored::server
