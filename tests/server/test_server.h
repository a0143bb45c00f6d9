#ifndef SEMAPHORED_TESTS_SERVER_TEST_SERVER_H_
#define SEMAPHORED_TESTS_SERVER_TEST_SERVER_H_

// A real semaphored Server on 127.0.0.1:0 with a raw generated stub, and small
// helpers for the service tests. Every RPC made through these helpers has a deadline.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "semaphored/v1/semaphore.grpc.pb.h"
#include "server/server.h"
#include "tests/server/log_capture.h"

namespace semaphored::server::testing {

// The bound on every RPC and every wait in these tests: far above what a healthy run
// needs, so that a hang fails instead of blocking ctest.
inline constexpr absl::Duration kRpcDeadline = absl::Seconds(20);

inline std::unique_ptr<grpc::ClientContext> Ctx(absl::Duration deadline = kRpcDeadline) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  return context;
}

// Matches a grpc::Status with `code` and a message matching `message_matcher`.
MATCHER_P2(GrpcStatusIs, code, message_matcher, "") {
  *result_listener << "status is " << static_cast<int>(arg.error_code()) << " \""
                   << arg.error_message() << "\"";
  return arg.error_code() == code &&
         ::testing::Matches(::testing::MatcherCast<std::string>(message_matcher))(
             arg.error_message());
}
inline auto GrpcIs(grpc::StatusCode code) { return GrpcStatusIs(code, ::testing::_); }
template <typename M>
auto GrpcIs(grpc::StatusCode code, M message_matcher) {
  return GrpcStatusIs(code, message_matcher);
}

// An admin token for test servers that need admin over TCP (which always needs one):
// set it as ServerOptions::admin_token and call with TokenCtx().
inline constexpr char kTestAdminToken[] = "test-admin-token-0123456789abcdef";

// Ctx() carrying "authorization: Bearer TOKEN".
inline std::unique_ptr<grpc::ClientContext> TokenCtx(
    const std::string& token = kTestAdminToken) {
  std::unique_ptr<grpc::ClientContext> context = Ctx();
  context->AddMetadata("authorization", "Bearer " + token);
  return context;
}

// The test server's core options: short TTLs allowed, so expiry tests run fast.
inline engine::CoreOptions TestCoreOptions() {
  engine::CoreOptions options;
  options.min_ttl = absl::Milliseconds(100);
  return options;
}

// The test server's options: loopback, an ephemeral port, TestCoreOptions().
inline ServerOptions TestServerOptions() {
  ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  options.core = TestCoreOptions();
  return options;
}

class TestServer {
 public:
  explicit TestServer(engine::CoreOptions core = TestCoreOptions()) {
    ServerOptions options = TestServerOptions();
    options.core = core;
    Start(std::move(options));
  }
  // Log lines go to log() unless `options` names a sink.
  explicit TestServer(ServerOptions options) { Start(std::move(options)); }

  Server& server() { return *server_; }
  engine::Core& core() { return server_->core(); }
  // The server's log lines (when the options named no other sink).
  const CapturingLogSink& log() const { return log_; }

  // A new channel (so a new connection) to the server.
  std::shared_ptr<grpc::Channel> NewChannel() const {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(16 * 1024 * 1024);
    // Distinct channels must not share one connection.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(server_->address(),
                                     grpc::InsecureChannelCredentials(), args);
  }
  std::unique_ptr<v1::SemaphoreService::Stub> NewStub() const {
    return v1::SemaphoreService::NewStub(NewChannel());
  }

  // Polls the core (not the network) until `name` has `count` queued set requests.
  // Bounded by kRpcDeadline; returns whether the count was reached.
  bool AwaitWaiters(const std::string& name, int count) {
    const absl::Time give_up = absl::Now() + kRpcDeadline;
    while (core().Test(name).waiter_count != count) {
      if (absl::Now() > give_up) return false;
      absl::SleepFor(absl::Milliseconds(1));
    }
    return true;
  }
  // Polls until the core has `count` queued requests of any kind (set and
  // wait-for-clear).
  bool AwaitTotalWaiters(int64_t count) {
    const absl::Time give_up = absl::Now() + kRpcDeadline;
    while (core().Counts().waiters != count) {
      if (absl::Now() > give_up) return false;
      absl::SleepFor(absl::Milliseconds(1));
    }
    return true;
  }

 private:
  void Start(ServerOptions options) {
    if (options.log_sink == nullptr) options.log_sink = &log_;
    absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(std::move(options));
    EXPECT_TRUE(server.ok()) << server.status();
    if (server.ok()) server_ = *std::move(server);
  }

  CapturingLogSink log_;  // outlives server_
  std::unique_ptr<Server> server_;
};

// A client session made with unary calls.
struct TestSession {
  std::string secret;
  std::string id;
};

inline TestSession OpenSession(v1::SemaphoreService::Stub& stub,
                               const std::string& client_name,
                               absl::Duration ttl = absl::ZeroDuration()) {
  v1::CreateSessionRequest request;
  request.set_client_name(client_name);
  if (ttl != absl::ZeroDuration()) {
    request.mutable_ttl()->set_seconds(absl::ToInt64Seconds(ttl));
    request.mutable_ttl()->set_nanos(
        static_cast<int32_t>(absl::ToInt64Nanoseconds(ttl % absl::Seconds(1))));
  }
  v1::CreateSessionResponse response;
  grpc::Status status = stub.CreateSession(Ctx().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return TestSession{response.session_secret(), response.session_id()};
}

inline v1::SetSemaphoreRequest SetRequest(const TestSession& session,
                                          const std::string& name) {
  v1::SetSemaphoreRequest request;
  request.set_session_secret(session.secret);
  request.set_name(name);
  return request;
}

// An asynchronous unary call through the callback API, awaited with a bound. The
// request and response live here, as the call needs them until it completes.
template <typename Request, typename Response>
struct PendingCall {
  std::unique_ptr<grpc::ClientContext> context = Ctx();
  Request request;
  Response response;
  grpc::Status status;
  absl::Notification done;

  PendingCall() = default;
  explicit PendingCall(Request r) : request(std::move(r)) {}
  // A call still running when the test ends is cancelled and awaited.
  ~PendingCall() {
    if (!done.HasBeenNotified()) {
      context->TryCancel();
      done.WaitForNotification();
    }
  }

  std::function<void(grpc::Status)> Callback() {
    return [this](grpc::Status s) {
      status = std::move(s);
      done.Notify();
    };
  }
  bool Await(absl::Duration timeout = kRpcDeadline) {
    return done.WaitForNotificationWithTimeout(timeout);
  }
};

using SetCall = PendingCall<v1::SetSemaphoreRequest, v1::SetSemaphoreResponse>;
using WaitClearCall =
    PendingCall<v1::WaitSemaphoreClearRequest, v1::WaitSemaphoreClearResponse>;

inline void Start(v1::SemaphoreService::Stub& stub, SetCall& call) {
  stub.async()->SetSemaphore(call.context.get(), &call.request, &call.response,
                             call.Callback());
}
inline void Start(v1::SemaphoreService::Stub& stub, WaitClearCall& call) {
  stub.async()->WaitSemaphoreClear(call.context.get(), &call.request, &call.response,
                                   call.Callback());
}

// One StreamSession call driven synchronously; every read is bounded by the call's
// deadline.
class StreamClient {
 public:
  using Event = v1::SessionEvent;

  explicit StreamClient(v1::SemaphoreService::Stub& stub)
      : context_(Ctx()), stream_(stub.StreamSession(context_.get())) {}

  bool Send(const v1::StreamSessionRequest& request) { return stream_->Write(request); }
  // Reads one StreamSessionResponse; nullopt when the stream has ended.
  std::optional<v1::StreamSessionResponse> ReadMessage() {
    v1::StreamSessionResponse response;
    if (!stream_->Read(&response)) return std::nullopt;
    return response;
  }
  // Reads messages until `count` events have arrived (fewer if the stream ends).
  std::vector<Event> ReadEvents(size_t count) {
    std::vector<Event> events;
    while (events.size() < count) {
      std::optional<v1::StreamSessionResponse> message = ReadMessage();
      if (!message.has_value()) break;
      for (const Event& e : message->events()) events.push_back(e);
    }
    return events;
  }
  // Half-closes and returns the final status after draining what is left.
  grpc::Status Close(std::vector<Event>* rest = nullptr) {
    stream_->WritesDone();
    return Finish(rest);
  }
  grpc::Status Finish(std::vector<Event>* rest = nullptr) {
    v1::StreamSessionResponse response;
    while (stream_->Read(&response)) {
      if (rest != nullptr) {
        for (const Event& e : response.events()) rest->push_back(e);
      }
    }
    return stream_->Finish();
  }
  void Cancel() { context_->TryCancel(); }

 private:
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<
      grpc::ClientReaderWriter<v1::StreamSessionRequest, v1::StreamSessionResponse>>
      stream_;
};

inline v1::SessionCommand* AddCommand(v1::StreamSessionRequest& request, uint64_t id) {
  v1::SessionCommand* command = request.add_commands();
  command->set_command_id(id);
  return command;
}

}  // namespace semaphored::server::testing

#endif  // SEMAPHORED_TESTS_SERVER_TEST_SERVER_H_
