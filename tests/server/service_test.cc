// SemaphoreService's unary methods against a real server on a loopback port.

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/test_server.h"

using ::semaphored::engine::CoreOptions;

namespace semaphored::server::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using Code = grpc::StatusCode;

class ServiceTest : public ::testing::Test {
 protected:
  TestServer server_;
  std::unique_ptr<v1::SemaphoreService::Stub> stub_ = server_.NewStub();

  grpc::Status Set(const v1::SetSemaphoreRequest& request,
                   v1::SetSemaphoreResponse* out) {
    return stub_->SetSemaphore(Ctx().get(), request, out);
  }
  grpc::Status Clear(const TestSession& session, const std::string& name,
                     v1::ClearSemaphoreResponse* out = nullptr) {
    v1::ClearSemaphoreRequest request;
    request.set_session_secret(session.secret);
    request.set_name(name);
    v1::ClearSemaphoreResponse response;
    return stub_->ClearSemaphore(Ctx().get(), request, out ? out : &response);
  }
  v1::SemaphoreState Test(const std::string& name) {
    v1::TestSemaphoreRequest request;
    request.set_name(name);
    v1::TestSemaphoreResponse response;
    grpc::Status status = stub_->TestSemaphore(Ctx().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.state();
  }
  grpc::Status Refresh(const std::string& secret) {
    v1::RefreshSessionRequest request;
    request.set_session_secret(secret);
    v1::RefreshSessionResponse response;
    return stub_->RefreshSession(Ctx().get(), request, &response);
  }
  // Sets `name` for `session`, expecting it granted at once.
  v1::Grant MustSet(const TestSession& session, const std::string& name) {
    v1::SetSemaphoreResponse response;
    grpc::Status status = Set(SetRequest(session, name), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_TRUE(response.acquired());
    return response.grant();
  }
};

TEST_F(ServiceTest, SessionCreateRefreshClose) {
  v1::CreateSessionRequest create;
  create.set_client_name("worker-1");
  create.mutable_ttl()->set_seconds(30);
  v1::CreateSessionResponse created;
  ASSERT_TRUE(stub_->CreateSession(Ctx().get(), create, &created).ok());
  EXPECT_THAT(created.session_secret(), MatchesRegex("[0-9a-f]{32}"));
  EXPECT_THAT(created.session_id(), MatchesRegex("[0-9a-f]{16}"));
  EXPECT_EQ(created.ttl().seconds(), 30);
  EXPECT_GT(created.expire_time().seconds(), absl::ToUnixSeconds(absl::Now()) + 20);

  v1::RefreshSessionRequest refresh;
  refresh.set_session_secret(created.session_secret());
  v1::RefreshSessionResponse refreshed;
  ASSERT_TRUE(stub_->RefreshSession(Ctx().get(), refresh, &refreshed).ok());
  EXPECT_GE(refreshed.expire_time().seconds(), created.expire_time().seconds());

  TestSession session{created.session_secret(), created.session_id()};
  MustSet(session, "a");
  MustSet(session, "b");
  v1::CloseSessionRequest close;
  close.set_session_secret(session.secret);
  v1::CloseSessionResponse closed;
  ASSERT_TRUE(stub_->CloseSession(Ctx().get(), close, &closed).ok());
  EXPECT_EQ(closed.released_count(), 2);
  EXPECT_FALSE(Test("a").set());
  EXPECT_THAT(Refresh(session.secret),
              GrpcIs(Code::UNAUTHENTICATED, HasSubstr("closed")));
  EXPECT_THAT(stub_->CloseSession(Ctx().get(), close, &closed),
              GrpcIs(Code::UNAUTHENTICATED, HasSubstr("closed")));
}

TEST_F(ServiceTest, DefaultTtlAppliesWhenUnset) {
  v1::CreateSessionRequest create;
  v1::CreateSessionResponse created;
  ASSERT_TRUE(stub_->CreateSession(Ctx().get(), create, &created).ok());
  EXPECT_EQ(created.ttl().seconds(), absl::ToInt64Seconds(CoreOptions().default_ttl));
}

TEST_F(ServiceTest, TtlOutsideServerRangeIsRejected) {
  v1::CreateSessionRequest create;
  create.mutable_ttl()->set_seconds(24 * 3600);  // above max_ttl (1h)
  v1::CreateSessionResponse created;
  EXPECT_THAT(stub_->CreateSession(Ctx().get(), create, &created),
              GrpcIs(Code::INVALID_ARGUMENT, HasSubstr("TTL")));
}

TEST_F(ServiceTest, SetTestClear) {
  TestSession a = OpenSession(*stub_, "alpha");
  const v1::Grant grant = MustSet(a, "printer");
  EXPECT_GT(grant.fencing_token(), 0u);
  EXPECT_EQ(grant.permits(), 1);

  v1::SemaphoreState state = Test("printer");
  EXPECT_EQ(state.name(), "printer");
  EXPECT_TRUE(state.set());
  EXPECT_EQ(state.limit(), 1);
  EXPECT_EQ(state.permits_held(), 1);
  ASSERT_EQ(state.holders_size(), 1);
  EXPECT_EQ(state.holders(0).session_id(), a.id);
  EXPECT_EQ(state.holders(0).client_name(), "alpha");
  EXPECT_EQ(state.holders(0).grant().fencing_token(), grant.fencing_token());

  v1::ClearSemaphoreResponse cleared;
  ASSERT_TRUE(Clear(a, "printer", &cleared).ok());
  EXPECT_EQ(cleared.released_permits(), 1);
  state = Test("printer");
  EXPECT_FALSE(state.set());
  EXPECT_EQ(state.limit(), 0);
  EXPECT_EQ(state.holders_size(), 0);

  // Tokens keep increasing.
  EXPECT_GT(MustSet(a, "printer").fencing_token(), grant.fencing_token());
}

TEST_F(ServiceTest, SetAgainByHolderSucceedsAsAlreadyHeld) {
  TestSession a = OpenSession(*stub_, "alpha");
  const v1::Grant first = MustSet(a, "x");
  v1::SetSemaphoreResponse again;
  ASSERT_TRUE(Set(SetRequest(a, "x"), &again).ok());
  EXPECT_TRUE(again.acquired());
  EXPECT_TRUE(again.already_held());
  EXPECT_EQ(Test("x").permits_held(), 1);
  EXPECT_EQ(again.grant().fencing_token(), first.fencing_token());
}

TEST_F(ServiceTest, TryOnASetSemaphoreAnswersNotAcquiredWithTheHolder) {
  TestSession a = OpenSession(*stub_, "alpha");
  TestSession b = OpenSession(*stub_, "beta");
  MustSet(a, "x");
  v1::SetSemaphoreResponse response;
  ASSERT_TRUE(Set(SetRequest(b, "x"), &response).ok());
  EXPECT_FALSE(response.acquired());
  EXPECT_FALSE(response.has_grant());
  ASSERT_EQ(response.state().holders_size(), 1);
  EXPECT_EQ(response.state().holders(0).session_id(), a.id);
  EXPECT_EQ(response.state().holders(0).client_name(), "alpha");
  EXPECT_TRUE(response.state().set());
}

TEST_F(ServiceTest, TimedWaitTimesOutNotAcquired) {
  TestSession a = OpenSession(*stub_, "alpha");
  TestSession b = OpenSession(*stub_, "beta");
  MustSet(a, "x");
  v1::SetSemaphoreRequest request = SetRequest(b, "x");
  request.mutable_timeout()->set_nanos(200'000'000);
  const absl::Time start = absl::Now();
  v1::SetSemaphoreResponse response;
  ASSERT_TRUE(Set(request, &response).ok());
  EXPECT_FALSE(response.acquired());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
  EXPECT_EQ(response.state().holders(0).session_id(), a.id);
  EXPECT_EQ(Test("x").waiter_count(), 0);
}

TEST_F(ServiceTest, WaitersAreGrantedOnReleaseInFifoOrder) {
  TestSession holder = OpenSession(*stub_, "holder");
  MustSet(holder, "x");
  constexpr int kWaiters = 4;
  std::vector<TestSession> sessions;
  std::vector<std::unique_ptr<SetCall>> calls;
  for (int i = 0; i < kWaiters; ++i) {
    sessions.push_back(OpenSession(*stub_, absl::StrCat("waiter-", i)));
    v1::SetSemaphoreRequest request = SetRequest(sessions.back(), "x");
    request.set_wait_indefinitely(true);
    calls.push_back(std::make_unique<SetCall>(request));
    Start(*stub_, *calls.back());
    // Queue them one at a time, so that their order is known.
    ASSERT_TRUE(server_.AwaitWaiters("x", i + 1));
  }
  ASSERT_TRUE(Clear(holder, "x").ok());
  uint64_t last_token = 0;
  for (int i = 0; i < kWaiters; ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(calls[i]->Await());
    ASSERT_TRUE(calls[i]->status.ok()) << calls[i]->status.error_message();
    EXPECT_TRUE(calls[i]->response.acquired());
    EXPECT_GT(calls[i]->response.grant().fencing_token(), last_token);
    last_token = calls[i]->response.grant().fencing_token();
    // Nobody after i can have been granted: i holds it until it clears.
    for (int j = i + 1; j < kWaiters; ++j) EXPECT_FALSE(calls[j]->done.HasBeenNotified());
    EXPECT_EQ(Test("x").holders(0).session_id(), sessions[i].id);
    ASSERT_TRUE(Clear(sessions[i], "x").ok());
  }
  EXPECT_FALSE(Test("x").set());
}

TEST_F(ServiceTest, CallDeadlineTakesTheWaiterOutOfTheQueue) {
  TestSession a = OpenSession(*stub_, "alpha");
  TestSession b = OpenSession(*stub_, "beta");
  MustSet(a, "x");
  v1::SetSemaphoreRequest request = SetRequest(b, "x");
  request.set_wait_indefinitely(true);
  v1::SetSemaphoreResponse response;
  grpc::Status status =
      stub_->SetSemaphore(Ctx(absl::Milliseconds(300)).get(), request, &response);
  // The core's wait ends at the call's deadline too, so the server's "not acquired"
  // may reach the client just before gRPC's DEADLINE_EXCEEDED does.
  if (status.ok()) {
    EXPECT_FALSE(response.acquired());
  } else {
    EXPECT_THAT(status, GrpcIs(Code::DEADLINE_EXCEEDED));
  }
  ASSERT_TRUE(server_.AwaitWaiters("x", 0));
  // The release does not go to the departed waiter.
  ASSERT_TRUE(Clear(a, "x").ok());
  EXPECT_FALSE(Test("x").set());
}

TEST_F(ServiceTest, CancelledCallLeavesTheQueueAtOnce) {
  TestSession a = OpenSession(*stub_, "alpha");
  TestSession b = OpenSession(*stub_, "beta");
  MustSet(a, "x");
  v1::SetSemaphoreRequest request = SetRequest(b, "x");
  request.set_wait_indefinitely(true);
  SetCall call(request);
  Start(*stub_, call);
  ASSERT_TRUE(server_.AwaitWaiters("x", 1));
  call.context->TryCancel();
  ASSERT_TRUE(call.Await());
  EXPECT_THAT(call.status, GrpcIs(Code::CANCELLED));
  ASSERT_TRUE(server_.AwaitWaiters("x", 0));
  ASSERT_TRUE(Clear(a, "x").ok());
  EXPECT_FALSE(Test("x").set());
}

TEST_F(ServiceTest, ClearingAnotherSessionsSemaphoreIsDeniedNamingTheHolder) {
  TestSession a = OpenSession(*stub_, "alpha");
  TestSession b = OpenSession(*stub_, "beta");
  MustSet(a, "x");
  EXPECT_THAT(Clear(b, "x"),
              GrpcIs(Code::PERMISSION_DENIED,
                     AllOf(HasSubstr(a.id), HasSubstr("alpha"), HasSubstr("\"x\""))));
  EXPECT_TRUE(Test("x").set());
}

TEST_F(ServiceTest, AFailedTryLeavesTheHolderInPlace) {
  TestSession a = OpenSession(*stub_, "alpha");
  TestSession b = OpenSession(*stub_, "beta");
  MustSet(a, "x");
  v1::SetSemaphoreResponse response;
  ASSERT_TRUE(Set(SetRequest(b, "x"), &response).ok());
  ASSERT_FALSE(response.acquired());
  v1::SemaphoreState state = Test("x");
  EXPECT_TRUE(state.set());
  ASSERT_EQ(state.holders_size(), 1);
  EXPECT_EQ(state.holders(0).session_id(), a.id);
  EXPECT_THAT(Clear(b, "x"), GrpcIs(Code::PERMISSION_DENIED, HasSubstr(a.id)));
  ASSERT_TRUE(Clear(a, "x").ok());
}

TEST_F(ServiceTest, ClearingASemaphoreThatIsNotSetIsNotFound) {
  TestSession a = OpenSession(*stub_, "alpha");
  EXPECT_THAT(Clear(a, "nothing"), GrpcIs(Code::NOT_FOUND, HasSubstr("\"nothing\"")));
}

TEST_F(ServiceTest, LimitMismatchIsFailedPreconditionWithBothNumbers) {
  TestSession a = OpenSession(*stub_, "alpha");
  TestSession b = OpenSession(*stub_, "beta");
  v1::SetSemaphoreRequest request = SetRequest(a, "pool");
  request.set_limit(2);
  v1::SetSemaphoreResponse response;
  ASSERT_TRUE(Set(request, &response).ok());
  request = SetRequest(b, "pool");
  request.set_limit(3);
  EXPECT_THAT(Set(request, &response),
              GrpcIs(Code::FAILED_PRECONDITION, AllOf(HasSubstr("2"), HasSubstr("3"))));
  // The same limit shares the permits.
  request.set_limit(2);
  ASSERT_TRUE(Set(request, &response).ok());
  EXPECT_TRUE(response.acquired());
  EXPECT_EQ(Test("pool").permits_held(), 2);
}

TEST_F(ServiceTest, WaitForClearAnswersWhenReleasedOrTimesOut) {
  TestSession a = OpenSession(*stub_, "alpha");
  TestSession b = OpenSession(*stub_, "beta");
  MustSet(a, "x");

  v1::WaitSemaphoreClearRequest request;
  request.set_session_secret(b.secret);
  request.set_name("x");
  request.mutable_timeout()->set_nanos(100'000'000);
  v1::WaitSemaphoreClearResponse response;
  ASSERT_TRUE(stub_->WaitSemaphoreClear(Ctx().get(), request, &response).ok());
  EXPECT_FALSE(response.clear());
  EXPECT_TRUE(response.state().set());

  request.clear_timeout();
  request.set_wait_indefinitely(true);
  WaitClearCall call(request);
  Start(*stub_, call);
  ASSERT_TRUE(server_.AwaitTotalWaiters(1));
  EXPECT_FALSE(call.done.HasBeenNotified());
  ASSERT_TRUE(Clear(a, "x").ok());
  ASSERT_TRUE(call.Await());
  ASSERT_TRUE(call.status.ok()) << call.status.error_message();
  EXPECT_TRUE(call.response.clear());
  EXPECT_FALSE(call.response.state().set());
  // Waiting for clear never sets it.
  EXPECT_FALSE(Test("x").set());
}

TEST_F(ServiceTest, BadSessionSecretsAreUnauthenticatedWithClearMessages) {
  struct Case {
    std::string label;
    std::string secret;
    std::string message;
  };
  TestSession closed = OpenSession(*stub_, "closed");
  v1::CloseSessionRequest close;
  close.set_session_secret(closed.secret);
  v1::CloseSessionResponse closed_response;
  ASSERT_TRUE(stub_->CloseSession(Ctx().get(), close, &closed_response).ok());
  TestSession expired = OpenSession(*stub_, "expired", absl::Milliseconds(150));
  // Expiry is the core's Ticker acting on real time: observe it.
  const absl::Time give_up = absl::Now() + kRpcDeadline;
  while (server_.core().Authenticate(expired.secret).ok() && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  const std::vector<Case> cases = {
      {"missing", "", "missing"},
      {"forged (malformed)", "letmein", "malformed"},
      {"unknown", "0123456789abcdef0123456789abcdef", "unknown"},
      {"closed", closed.secret, "closed"},
      {"expired", expired.secret, "expired"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    const auto want = GrpcIs(Code::UNAUTHENTICATED, HasSubstr(c.message));
    EXPECT_THAT(Refresh(c.secret), want);
    TestSession s{c.secret, ""};
    v1::SetSemaphoreResponse set_response;
    EXPECT_THAT(Set(SetRequest(s, "x"), &set_response), want);
    EXPECT_THAT(Clear(s, "x"), want);
    v1::WaitSemaphoreClearRequest wait;
    wait.set_session_secret(c.secret);
    wait.set_name("x");
    v1::WaitSemaphoreClearResponse wait_response;
    EXPECT_THAT(stub_->WaitSemaphoreClear(Ctx().get(), wait, &wait_response), want);
    v1::CloseSessionRequest close_request;
    close_request.set_session_secret(c.secret);
    EXPECT_THAT(stub_->CloseSession(Ctx().get(), close_request, &closed_response), want);
  }
}

TEST_F(ServiceTest, OversizedMessageIsResourceExhaustedAndTheServerGoesOn) {
  TestSession a = OpenSession(*stub_, "alpha");
  v1::SetSemaphoreRequest request = SetRequest(a, std::string(100 * 1024, 'n'));
  v1::SetSemaphoreResponse response;
  EXPECT_THAT(Set(request, &response), GrpcIs(Code::RESOURCE_EXHAUSTED));
  MustSet(a, "after");
}

TEST_F(ServiceTest, PingAnswers) {
  v1::PingResponse response;
  EXPECT_TRUE(stub_->Ping(Ctx().get(), v1::PingRequest(), &response).ok());
}

TEST_F(ServiceTest, DrainWakesWaitersAndRefusesNewWork) {
  TestSession a = OpenSession(*stub_, "alpha");
  TestSession b = OpenSession(*stub_, "beta");
  MustSet(a, "x");
  v1::SetSemaphoreRequest request = SetRequest(b, "x");
  request.set_wait_indefinitely(true);
  SetCall call(request);
  Start(*stub_, call);
  ASSERT_TRUE(server_.AwaitWaiters("x", 1));
  server_.server().Drain();
  ASSERT_TRUE(call.Await());
  EXPECT_THAT(call.status,
              GrpcIs(Code::UNAVAILABLE, HasSubstr("server is shutting down")));
  v1::CreateSessionResponse created;
  EXPECT_THAT(stub_->CreateSession(Ctx().get(), v1::CreateSessionRequest(), &created),
              GrpcIs(Code::UNAVAILABLE, HasSubstr("shutting down")));
  // Test needs no session and still answers.
  EXPECT_FALSE(Test("x").set());
}

}  // namespace
}  // namespace semaphored::server::testing
