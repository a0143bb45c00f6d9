#ifndef SEMAPHORED_SERVER_SERVICE_UNARY_CALL_H_
#define SEMAPHORED_SERVER_SERVICE_UNARY_CALL_H_

// The one way the server's unary methods (SemaphoreService's and AdminService's) are
// served on gRPC's callback API with raw messages: report the request, admit the
// caller, parse the request (wire.h), hand it over, and answer once (successes
// serialized, every error through AnswerStatus).

#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "server/service/call_observer.h"
#include "server/service/wire.h"

namespace semaphored::server {

// One unary call on a raw method: owns the parsed request and answers the call once.
// Answer() may be called on any thread, before or after the start function returns;
// it finishes the call, and the reactor deletes itself in OnDone, which gRPC calls
// only after Finish, so a completion's raw pointer stays valid until the answer.
// A call cancelled before its answer (client gone, deadline passed, server stopping)
// runs the cancellation registered with OnCancelRun once, whose effect must then
// answer (CANCELLED; gRPC reports the cancellation to the client anyway).
template <typename Request, typename Response>
class UnaryCall final : public grpc::ServerUnaryReactor {
 public:
  UnaryCall(CallObserver* observer, grpc::ByteBuffer* out)
      : observer_(observer), out_(out) {}

  Request request;

  // Finishes the call: the response serialized, or the error (reported to the
  // observer). Call exactly once.
  void Answer(absl::StatusOr<Response> answer) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      answered_ = true;
      cancel_ = nullptr;
    }
    if (answer.ok()) SerializeToBuffer(*answer, out_);
    Finish(AnswerStatus(*observer_, answer.status()));
  }

  // A completion that answers this call (see Answer).
  absl::AnyInvocable<void(absl::StatusOr<Response>) &&> Completion() {
    return [this](absl::StatusOr<Response> answer) { Answer(std::move(answer)); };
  }

  // Registers what cancels the call's pending work (a queued waiter): run once if the
  // call is cancelled before it is answered -- at once when it already was.
  void OnCancelRun(absl::AnyInvocable<void() &&> cancel) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      if (answered_) return;
      if (!cancelled_) {
        cancel_ = std::move(cancel);
        return;
      }
    }
    std::move(cancel)();
  }

  void OnCancel() override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::AnyInvocable<void() &&> cancel;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      if (answered_) return;
      cancel = std::move(cancel_);
      cancel_ = nullptr;
    }
    // The cancellation answers (possibly right here), which finishes the call.
    if (cancel) std::move(cancel)();
  }

  void OnDone() override { delete this; }

 private:
  CallObserver* const observer_;
  grpc::ByteBuffer* const out_;
  absl::Mutex mu_;
  absl::AnyInvocable<void() &&> cancel_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool answered_ ABSL_GUARDED_BY(mu_) = false;
};

// Admits every caller (the client methods: the operation authenticates the session).
absl::Status AdmitAll();

// Serves one unary call: reports `method` to the observer, then `admit()` decides
// whether the caller may call it, then the request is parsed, then
// `start(UnaryCall*)` must see to it that the call's Answer() is called once. A
// refused caller or a request that does not parse is answered at once.
template <typename Request, typename Response, typename Admit, typename Start>
grpc::ServerUnaryReactor* ServeUnary(CallObserver& observer, const char* method,
                                     Admit&& admit, const grpc::ByteBuffer* in,
                                     grpc::ByteBuffer* out, Start&& start) {
  observer.OnRequest(method);
  auto* call = new UnaryCall<Request, Response>(&observer, out);
  absl::Status status = admit();
  if (status.ok()) status = ParseMessage(BufferBytes(*in), &call->request);
  if (!status.ok()) {
    call->Answer(std::move(status));
  } else {
    start(call);
  }
  return call;
}

// As ServeUnary, for methods decided at once: `handle(request, &response)` returns
// the call's status; the answer is given by whatever `release(fn)` does with `fn`
// (runs it at once, or once what the answer shows is durable).
template <typename Request, typename Response, typename Admit, typename Handle,
          typename Release>
grpc::ServerUnaryReactor* ServeUnaryNow(CallObserver& observer, const char* method,
                                        Admit&& admit, const grpc::ByteBuffer* in,
                                        grpc::ByteBuffer* out, Handle&& handle,
                                        Release&& release) {
  return ServeUnary<Request, Response>(
      observer, method, std::forward<Admit>(admit), in, out,
      [&](UnaryCall<Request, Response>* call) {
        Response response;
        absl::Status status = handle(call->request, &response);
        absl::StatusOr<Response> answer =
            status.ok() ? absl::StatusOr<Response>(std::move(response))
                        : absl::StatusOr<Response>(std::move(status));
        release(absl::AnyInvocable<void()>(
            [call, answer = std::move(answer)]() mutable { call->Answer(std::move(answer)); }));
      });
}

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_SERVICE_UNARY_CALL_H_
