// The server's limits through a real server: each refusal is RESOURCE_EXHAUSTED with a
// message naming the limit, and the server keeps serving.

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/observability/metrics.h"
#include "tests/server/test_server.h"

using ::semaphored::engine::CoreOptions;

namespace semaphored::server::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using Code = grpc::StatusCode;

TEST(LimitsTest, MaxSessions) {
  CoreOptions core = TestCoreOptions();
  core.max_sessions = 2;
  TestServer server(core);
  auto stub = server.NewStub();
  TestSession first = OpenSession(*stub, "one");
  OpenSession(*stub, "two");
  v1::CreateSessionResponse response;
  EXPECT_THAT(stub->CreateSession(Ctx().get(), {}, &response),
              GrpcIs(Code::RESOURCE_EXHAUSTED,
                     AllOf(HasSubstr("2 sessions"), HasSubstr("max_sessions"))));
  // Closing one makes room.
  v1::CloseSessionRequest close;
  close.set_session_secret(first.secret);
  v1::CloseSessionResponse closed;
  ASSERT_TRUE(stub->CloseSession(Ctx().get(), close, &closed).ok());
  EXPECT_TRUE(stub->CreateSession(Ctx().get(), {}, &response).ok());
  EXPECT_THAT(server.server().metrics().Render(),
              HasSubstr("semaphored_rejected_requests_total{code=\"RESOURCE_EXHAUSTED\"} 1\n"));
}

TEST(LimitsTest, MaxHeldPerSession) {
  CoreOptions core = TestCoreOptions();
  core.max_held_per_session = 2;
  TestServer server(core);
  auto stub = server.NewStub();
  TestSession s = OpenSession(*stub, "greedy");
  v1::SetSemaphoreResponse response;
  ASSERT_TRUE(stub->SetSemaphore(Ctx().get(), SetRequest(s, "a"), &response).ok());
  ASSERT_TRUE(stub->SetSemaphore(Ctx().get(), SetRequest(s, "b"), &response).ok());
  EXPECT_THAT(stub->SetSemaphore(Ctx().get(), SetRequest(s, "c"), &response),
              GrpcIs(Code::RESOURCE_EXHAUSTED,
                     AllOf(HasSubstr("max_held_per_session"), HasSubstr("\"c\""))));
  // Setting one it already holds is not a new hold.
  ASSERT_TRUE(stub->SetSemaphore(Ctx().get(), SetRequest(s, "a"), &response).ok());
  EXPECT_TRUE(response.acquired());
  EXPECT_TRUE(response.already_held());
  // Another session is not affected.
  TestSession other = OpenSession(*stub, "other");
  EXPECT_TRUE(stub->SetSemaphore(Ctx().get(), SetRequest(other, "c"), &response).ok());
}

TEST(LimitsTest, MaxWaitersPerSemaphore) {
  CoreOptions core = TestCoreOptions();
  core.max_waiters_per_semaphore = 1;
  TestServer server(core);
  auto stub = server.NewStub();
  TestSession holder = OpenSession(*stub, "holder");
  TestSession w1 = OpenSession(*stub, "w1");
  TestSession w2 = OpenSession(*stub, "w2");
  v1::SetSemaphoreResponse response;
  ASSERT_TRUE(stub->SetSemaphore(Ctx().get(), SetRequest(holder, "x"), &response).ok());
  v1::SetSemaphoreRequest wait = SetRequest(w1, "x");
  wait.set_wait_indefinitely(true);
  SetCall queued(wait);
  Start(*stub, queued);
  ASSERT_TRUE(server.AwaitWaiters("x", 1));
  v1::SetSemaphoreRequest second = SetRequest(w2, "x");
  second.set_wait_indefinitely(true);
  EXPECT_THAT(stub->SetSemaphore(Ctx().get(), second, &response),
              GrpcIs(Code::RESOURCE_EXHAUSTED,
                     AllOf(HasSubstr("\"x\""), HasSubstr("max_waiters_per_semaphore"))));
  // A try does not queue, so it is still answered normally.
  EXPECT_TRUE(stub->SetSemaphore(Ctx().get(), SetRequest(w2, "x"), &response).ok());
  EXPECT_FALSE(response.acquired());
}

TEST(LimitsTest, SessionsPerPeerAndCreationRate) {
  CoreOptions core = TestCoreOptions();
  core.max_sessions_per_peer = 2;
  core.session_rate_per_peer = 0;
  TestServer server(core);
  auto stub = server.NewStub();
  TestSession first = OpenSession(*stub, "one");
  OpenSession(*stub, "two");
  v1::CreateSessionResponse response;
  EXPECT_THAT(stub->CreateSession(Ctx().get(), {}, &response),
              GrpcIs(Code::RESOURCE_EXHAUSTED,
                     AllOf(HasSubstr("2 sessions"), HasSubstr("--max_sessions_per_peer"))));
  v1::CloseSessionRequest close;
  close.set_session_secret(first.secret);
  v1::CloseSessionResponse closed;
  ASSERT_TRUE(stub->CloseSession(Ctx().get(), close, &closed).ok());
  EXPECT_TRUE(stub->CreateSession(Ctx().get(), {}, &response).ok());

  // The rate: a burst of 3, then one per 1,000 s.
  core = TestCoreOptions();
  core.max_sessions_per_peer = 0;
  core.session_rate_per_peer = 0.001;
  core.session_burst_per_peer = 3;
  TestServer rated(core);
  auto rated_stub = rated.NewStub();
  for (int i = 0; i < 3; ++i) OpenSession(*rated_stub, "burst");
  EXPECT_THAT(rated_stub->CreateSession(Ctx().get(), {}, &response),
              GrpcIs(Code::RESOURCE_EXHAUSTED,
                     AllOf(HasSubstr("bursts of 3"), HasSubstr("retry in"),
                           HasSubstr("--session_rate_per_peer"))));
  v1::PingResponse pong;
  EXPECT_TRUE(rated_stub->Ping(Ctx().get(), {}, &pong).ok()) << "the server keeps serving";
}

TEST(LimitsTest, TotalSemaphoresHoldsAndWaitersPerSession) {
  CoreOptions core = TestCoreOptions();
  core.max_semaphores = 2;
  core.max_holds = 3;
  core.max_waiters_per_session = 1;
  TestServer server(core);
  auto stub = server.NewStub();
  TestSession a = OpenSession(*stub, "a");
  TestSession b = OpenSession(*stub, "b");
  v1::SetSemaphoreResponse response;
  v1::SetSemaphoreRequest wide = SetRequest(a, "x");
  wide.set_limit(5);
  ASSERT_TRUE(stub->SetSemaphore(Ctx().get(), wide, &response).ok());
  ASSERT_TRUE(stub->SetSemaphore(Ctx().get(), SetRequest(a, "y"), &response).ok());
  EXPECT_THAT(stub->SetSemaphore(Ctx().get(), SetRequest(a, "z"), &response),
              GrpcIs(Code::RESOURCE_EXHAUSTED,
                     AllOf(HasSubstr("2 semaphores"), HasSubstr("--max_semaphores"))));
  ASSERT_TRUE(stub->SetSemaphore(Ctx().get(), SetRequest(b, "x"), &response).ok());
  TestSession c = OpenSession(*stub, "c");
  EXPECT_THAT(stub->SetSemaphore(Ctx().get(), SetRequest(c, "x"), &response),
              GrpcIs(Code::RESOURCE_EXHAUSTED, AllOf(HasSubstr("3 holds"),
                                                     HasSubstr("--max_holds"))));
  v1::SetSemaphoreRequest wait = SetRequest(b, "y");
  wait.set_wait_indefinitely(true);
  SetCall queued(wait);
  Start(*stub, queued);
  ASSERT_TRUE(server.AwaitWaiters("y", 1));
  EXPECT_THAT(stub->SetSemaphore(Ctx().get(), wait, &response),
              GrpcIs(Code::RESOURCE_EXHAUSTED, HasSubstr("--max_waiters_per_session")));
}

TEST(LimitsTest, MaxMessageBytes) {
  ServerOptions options = TestServerOptions();
  options.max_message_bytes = 4096;
  TestServer server(options);
  auto stub = server.NewStub();
  TestSession s = OpenSession(*stub, "big");
  v1::SetSemaphoreResponse response;
  // Just under the limit: the request is read, and refused for its name's length.
  EXPECT_THAT(stub->SetSemaphore(Ctx().get(), SetRequest(s, std::string(4000, 'n')),
                                 &response),
              GrpcIs(Code::INVALID_ARGUMENT, HasSubstr("255")));
  // Over it: refused before it is read.
  EXPECT_THAT(stub->SetSemaphore(Ctx().get(), SetRequest(s, std::string(5000, 'n')),
                                 &response),
              GrpcIs(Code::RESOURCE_EXHAUSTED, HasSubstr("larger than max")));
  // The server keeps serving, on the same channel too.
  EXPECT_TRUE(stub->SetSemaphore(Ctx().get(), SetRequest(s, "small"), &response).ok());
  EXPECT_TRUE(response.acquired());
}

TEST(LimitsTest, BadOptionsAreRefusedAtStart) {
  ServerOptions small = TestServerOptions();
  small.max_message_bytes = 100;
  EXPECT_EQ(Server::Start(small).status().code(), absl::StatusCode::kInvalidArgument);
  ServerOptions bad_token = TestServerOptions();
  bad_token.admin_token = "two\nlines";
  EXPECT_EQ(Server::Start(bad_token).status().code(), absl::StatusCode::kInvalidArgument);
  ServerOptions bad_metrics = TestServerOptions();
  bad_metrics.metrics_address = "nonsense";
  absl::Status status = Server::Start(bad_metrics).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("--metrics_address"));
}

}  // namespace
}  // namespace semaphored::server::testing
