// Walks every SemaphoreService RPC with malformed input: each gets the right code and
// a message naming the problem, and the server keeps serving another client
// throughout.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/test_server.h"

namespace semaphored::server::testing {
namespace {

using ::testing::HasSubstr;
using Code = grpc::StatusCode;
using Stub = v1::SemaphoreService::Stub;

struct BadCall {
  std::string label;
  // Makes one call with a bad request and returns its status.
  std::function<grpc::Status(Stub&, const TestSession&)> call;
  Code code;
  std::string message;
};

google::protobuf::Duration Seconds(int64_t s, int32_t nanos = 0) {
  google::protobuf::Duration d;
  d.set_seconds(s);
  d.set_nanos(nanos);
  return d;
}

grpc::Status CallSet(Stub& stub, const v1::SetSemaphoreRequest& request) {
  v1::SetSemaphoreResponse response;
  return stub.SetSemaphore(Ctx().get(), request, &response);
}

// The name-carrying RPCs, each called with `name`.
std::vector<BadCall> NameCases(const std::string& what, const std::string& name,
                               const std::string& message) {
  return {
      {"SetSemaphore: " + what,
       [name](Stub& stub, const TestSession& s) {
         return CallSet(stub, SetRequest(s, name));
       },
       Code::INVALID_ARGUMENT, message},
      {"ClearSemaphore: " + what,
       [name](Stub& stub, const TestSession& s) {
         v1::ClearSemaphoreRequest request;
         request.set_session_secret(s.secret);
         request.set_name(name);
         v1::ClearSemaphoreResponse response;
         return stub.ClearSemaphore(Ctx().get(), request, &response);
       },
       Code::INVALID_ARGUMENT, message},
      {"TestSemaphore: " + what,
       [name](Stub& stub, const TestSession&) {
         v1::TestSemaphoreRequest request;
         request.set_name(name);
         v1::TestSemaphoreResponse response;
         return stub.TestSemaphore(Ctx().get(), request, &response);
       },
       Code::INVALID_ARGUMENT, message},
      {"WaitSemaphoreClear: " + what,
       [name](Stub& stub, const TestSession& s) {
         v1::WaitSemaphoreClearRequest request;
         request.set_session_secret(s.secret);
         request.set_name(name);
         v1::WaitSemaphoreClearResponse response;
         return stub.WaitSemaphoreClear(Ctx().get(), request, &response);
       },
       Code::INVALID_ARGUMENT, message},
  };
}

// A set request changed by `edit`.
BadCall SetCase(const std::string& label,
                std::function<void(v1::SetSemaphoreRequest&)> edit, Code code,
                const std::string& message) {
  return {"SetSemaphore: " + label,
          [edit](Stub& stub, const TestSession& s) {
            v1::SetSemaphoreRequest request = SetRequest(s, "valid");
            edit(request);
            return CallSet(stub, request);
          },
          code, message};
}

// Every RPC that acts for a session, called with `secret`.
std::vector<BadCall> SecretCases(const std::string& what, const std::string& secret,
                                 const std::string& message) {
  const Code code = Code::UNAUTHENTICATED;
  TestSession bad{secret, ""};
  return {
      {"RefreshSession: " + what,
       [secret](Stub& stub, const TestSession&) {
         v1::RefreshSessionRequest request;
         request.set_session_secret(secret);
         v1::RefreshSessionResponse response;
         return stub.RefreshSession(Ctx().get(), request, &response);
       },
       code, message},
      {"CloseSession: " + what,
       [secret](Stub& stub, const TestSession&) {
         v1::CloseSessionRequest request;
         request.set_session_secret(secret);
         v1::CloseSessionResponse response;
         return stub.CloseSession(Ctx().get(), request, &response);
       },
       code, message},
      {"SetSemaphore: " + what,
       [bad](Stub& stub, const TestSession&) {
         return CallSet(stub, SetRequest(bad, "n"));
       },
       code, message},
      {"ClearSemaphore: " + what,
       [secret](Stub& stub, const TestSession&) {
         v1::ClearSemaphoreRequest request;
         request.set_session_secret(secret);
         request.set_name("n");
         v1::ClearSemaphoreResponse response;
         return stub.ClearSemaphore(Ctx().get(), request, &response);
       },
       code, message},
      {"WaitSemaphoreClear: " + what,
       [secret](Stub& stub, const TestSession&) {
         v1::WaitSemaphoreClearRequest request;
         request.set_session_secret(secret);
         request.set_name("n");
         v1::WaitSemaphoreClearResponse response;
         return stub.WaitSemaphoreClear(Ctx().get(), request, &response);
       },
       code, message},
  };
}

std::vector<BadCall> AllCases(const std::string& expired_secret,
                              const std::string& closed_secret) {
  std::vector<BadCall> cases;
  auto append = [&cases](std::vector<BadCall> more) {
    for (BadCall& c : more) cases.push_back(std::move(c));
  };
  append(NameCases("empty name", "", "empty"));
  append(NameCases("256-byte name", std::string(256, 'n'), "256 bytes"));
  append(NameCases("invalid UTF-8", "bad\xff", "UTF-8"));
  append(NameCases("control character", "bell\a", "control character"));
  append(NameCases("'$' name", "$local", "'$'"));
  cases.push_back(SetCase(
      "zero permits", [](auto& r) { r.set_permits(0); }, Code::INVALID_ARGUMENT,
      "permits 0"));
  cases.push_back(SetCase(
      "negative permits", [](auto& r) { r.set_permits(-7); }, Code::INVALID_ARGUMENT,
      "permits -7"));
  cases.push_back(SetCase(
      "permits over the limit",
      [](auto& r) {
        r.set_limit(2);
        r.set_permits(3);
      },
      Code::INVALID_ARGUMENT, "limit 2"));
  cases.push_back(SetCase(
      "limit over the maximum", [](auto& r) { r.set_limit(2'000'000); },
      Code::INVALID_ARGUMENT, "limit 2000000"));
  cases.push_back(SetCase(
      "zero limit", [](auto& r) { r.set_limit(0); }, Code::INVALID_ARGUMENT, "limit 0"));
  cases.push_back(SetCase(
      "negative timeout", [](auto& r) { *r.mutable_timeout() = Seconds(-5); },
      Code::INVALID_ARGUMENT, "timeout -5s"));
  cases.push_back(SetCase(
      "oversize timeout", [](auto& r) { *r.mutable_timeout() = Seconds(25 * 3600); },
      Code::INVALID_ARGUMENT, "timeout 25h"));
  cases.push_back(SetCase(
      "invalid timeout", [](auto& r) { *r.mutable_timeout() = Seconds(1, -1); },
      Code::INVALID_ARGUMENT, "opposite signs"));
  cases.push_back(SetCase(
      "oversized message", [](auto& r) { r.set_name(std::string(200 * 1024, 'o')); },
      Code::RESOURCE_EXHAUSTED, ""));
  cases.push_back({"WaitSemaphoreClear: negative timeout",
                   [](Stub& stub, const TestSession& s) {
                     v1::WaitSemaphoreClearRequest request;
                     request.set_session_secret(s.secret);
                     request.set_name("n");
                     *request.mutable_timeout() = Seconds(0, -1);
                     v1::WaitSemaphoreClearResponse response;
                     return stub.WaitSemaphoreClear(Ctx().get(), request, &response);
                   },
                   Code::INVALID_ARGUMENT, "timeout -1ns"});
  cases.push_back({"CreateSession: invalid client name",
                   [](Stub& stub, const TestSession&) {
                     v1::CreateSessionRequest request;
                     request.set_client_name(std::string("nul\0name", 8));
                     v1::CreateSessionResponse response;
                     return stub.CreateSession(Ctx().get(), request, &response);
                   },
                   Code::INVALID_ARGUMENT, "client name"});
  cases.push_back({"CreateSession: negative ttl",
                   [](Stub& stub, const TestSession&) {
                     v1::CreateSessionRequest request;
                     *request.mutable_ttl() = Seconds(-1);
                     v1::CreateSessionResponse response;
                     return stub.CreateSession(Ctx().get(), request, &response);
                   },
                   Code::INVALID_ARGUMENT, "ttl -1s"});
  cases.push_back({"CreateSession: oversized message",
                   [](Stub& stub, const TestSession&) {
                     v1::CreateSessionRequest request;
                     request.set_client_name(std::string(100 * 1024, 'c'));
                     v1::CreateSessionResponse response;
                     return stub.CreateSession(Ctx().get(), request, &response);
                   },
                   Code::RESOURCE_EXHAUSTED, ""});
  append(SecretCases("missing secret", "", "missing"));
  append(SecretCases("forged secret", "admin' OR 1=1", "malformed"));
  append(SecretCases("unknown secret", "ffffffffffffffffffffffffffffffff", "unknown"));
  append(SecretCases("expired secret", expired_secret, "expired"));
  append(SecretCases("closed secret", closed_secret, "closed"));
  return cases;
}

TEST(BadInputTest, EveryRpcRejectsBadInputAndTheServerKeepsServing) {
  TestServer server;
  std::unique_ptr<Stub> bad_client = server.NewStub();
  std::unique_ptr<Stub> good_client = server.NewStub();
  const TestSession bad_session = OpenSession(*bad_client, "bad");
  const TestSession good_session = OpenSession(*good_client, "good");

  const TestSession expired =
      OpenSession(*bad_client, "expired", absl::Milliseconds(150));
  const TestSession closed = OpenSession(*bad_client, "closed");
  v1::CloseSessionRequest close;
  close.set_session_secret(closed.secret);
  v1::CloseSessionResponse closed_response;
  ASSERT_TRUE(bad_client->CloseSession(Ctx().get(), close, &closed_response).ok());
  const absl::Time give_up = absl::Now() + kRpcDeadline;
  while (server.core().Authenticate(expired.secret).ok() && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }

  const std::vector<BadCall> cases = AllCases(expired.secret, closed.secret);
  ASSERT_GT(cases.size(), 40u);
  for (const BadCall& c : cases) {
    SCOPED_TRACE(c.label);
    grpc::Status status = c.call(*bad_client, bad_session);
    EXPECT_THAT(status, GrpcIs(c.code, HasSubstr(c.message)));
    if (c.code != Code::RESOURCE_EXHAUSTED) {
      EXPECT_FALSE(status.error_message().empty());
    }
    // Another client is served normally right after.
    v1::SetSemaphoreResponse set;
    ASSERT_TRUE(CallSet(*good_client, SetRequest(good_session, "good")).ok());
    v1::ClearSemaphoreRequest clear;
    clear.set_session_secret(good_session.secret);
    clear.set_name("good");
    v1::ClearSemaphoreResponse cleared;
    ASSERT_TRUE(good_client->ClearSemaphore(Ctx().get(), clear, &cleared).ok());
    EXPECT_EQ(cleared.released_permits(), 1);
  }
  // The bad client's own session and connection still work too.
  ASSERT_TRUE(CallSet(*bad_client, SetRequest(bad_session, "fine")).ok());
  EXPECT_TRUE(server.core().CheckInvariants().ok());
}

}  // namespace
}  // namespace semaphored::server::testing
