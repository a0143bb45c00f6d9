#ifndef SEMAPHORED_SERVER_SERVICE_CALL_OBSERVER_H_
#define SEMAPHORED_SERVER_SERVICE_CALL_OBSERVER_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/status.h"
#include "semaphored/v1/semaphore.pb.h"
#include "engine/types.h"

namespace semaphored::server {

// Told about the calls the gRPC services serve (requests, error answers, sessions
// opened), for metrics and logs. Implementations must be thread-safe and must not
// block: they are called on gRPC threads, and from the engine's callbacks (never with
// the engine's lock held).
class CallObserver {
 public:
  virtual ~CallObserver() = default;
  // A request arrived. `method` is a constant: the RPC method's name
  // ("SetSemaphore", "ListSessions"...) or, for a command on a session stream,
  // "StreamSession.<command>" ("StreamSession.set").
  virtual void OnRequest(absl::string_view /*method*/) {}
  // A request or stream command was answered with an error (never called for OK).
  virtual void OnError(absl::StatusCode /*code*/) {}
  // CreateSession opened `session` for `client_name`, called from `peer`.
  virtual void OnSessionCreated(const engine::NewSession& /*session*/,
                                absl::string_view /*client_name*/,
                                absl::string_view /*peer*/) {}

  // An observer that does nothing; never destroyed.
  static CallObserver* Null();
};

// The one way our services turn a status into an answer: common/wire_status.h's
// mapping (ToGrpcStatus / ToCommandError), with every error reported to `observer`
// first.
grpc::Status AnswerStatus(CallObserver& observer, const absl::Status& status);
v1::CommandError AnswerError(CallObserver& observer, const absl::Status& status);

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_SERVICE_CALL_OBSERVER_H_
