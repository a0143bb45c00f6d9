// Who may call semaphored.v1.AdminService over TCP: the token matrix through a real
// server, no admin over TCP without a token (loopback included), the throttle of
// refused attempts and its rate-limited log lines, CheckAdminCredential's decisions,
// and the token rules at start. (The admin socket: admin_socket_test.cc.)

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "semaphored/v1/admin.grpc.pb.h"
#include "server/server_config.h"
#include "server/service/admin_service.h"
#include "tests/server/test_server.h"

namespace semaphored::server::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using Code = grpc::StatusCode;
using Admin = v1::AdminService::Stub;

constexpr char kToken[] = "s3cret-admin-token-0123456789";

// A context carrying "authorization: Bearer TOKEN" (none when `token` is empty).
std::unique_ptr<grpc::ClientContext> AdminCtx(const std::string& token = kToken) {
  std::unique_ptr<grpc::ClientContext> context = Ctx();
  if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
  return context;
}

// Every admin method, called with a context made by `ctx`.
struct AdminMethod {
  std::string name;
  std::function<grpc::Status(Admin&, grpc::ClientContext*)> call;
};

std::vector<AdminMethod> AllMethods() {
  return {
      {"ListSemaphores",
       [](Admin& a, grpc::ClientContext* c) {
         v1::ListSemaphoresResponse r;
         return a.ListSemaphores(c, {}, &r);
       }},
      {"ListSessions",
       [](Admin& a, grpc::ClientContext* c) {
         v1::ListSessionsResponse r;
         return a.ListSessions(c, {}, &r);
       }},
      {"GetSession",
       [](Admin& a, grpc::ClientContext* c) {
         v1::GetSessionRequest q;
         q.set_session_id("0000000000000001");
         v1::GetSessionResponse r;
         return a.GetSession(c, q, &r);
       }},
      {"EndSession",
       [](Admin& a, grpc::ClientContext* c) {
         v1::EndSessionRequest q;
         q.set_session_id("0000000000000001");
         q.set_reason("r");
         v1::EndSessionResponse r;
         return a.EndSession(c, q, &r);
       }},
      {"ForceClearSemaphore",
       [](Admin& a, grpc::ClientContext* c) {
         v1::ForceClearSemaphoreRequest q;
         q.set_name("x");
         q.set_reason("r");
         v1::ForceClearSemaphoreResponse r;
         return a.ForceClearSemaphore(c, q, &r);
       }},
      {"GetCluster",
       [](Admin& a, grpc::ClientContext* c) {
         v1::GetClusterResponse r;
         return a.GetCluster(c, {}, &r);
       }},
      {"Drain",
       [](Admin& a, grpc::ClientContext* c) {
         v1::DrainResponse r;
         return a.Drain(c, {}, &r);
       }},
  };
}

// No throttle and no log rate limit, so that every refusal shows.
AdminThrottle::Options Unthrottled() {
  AdminThrottle::Options throttle;
  throttle.free_failures = 1000000;
  throttle.log_interval = absl::ZeroDuration();
  return throttle;
}

TEST(AdminAuthTest, EveryMethodNeedsTheRightToken) {
  ServerOptions options = TestServerOptions();
  options.admin_token = kToken;
  options.admin_throttle = Unthrottled();
  TestServer server(options);
  std::unique_ptr<Admin> admin = v1::AdminService::NewStub(server.NewChannel());
  for (const AdminMethod& m : AllMethods()) {
    SCOPED_TRACE(m.name);
    EXPECT_THAT(m.call(*admin, AdminCtx("").get()),
                GrpcIs(Code::UNAUTHENTICATED, HasSubstr("authorization: Bearer")));
    EXPECT_THAT(m.call(*admin, AdminCtx("wrong-token").get()),
                GrpcIs(Code::PERMISSION_DENIED, HasSubstr("admin token is wrong")));
    std::unique_ptr<grpc::ClientContext> basic = Ctx();
    basic->AddMetadata("authorization", absl::StrCat("Basic ", kToken));
    EXPECT_THAT(m.call(*admin, basic.get()), GrpcIs(Code::PERMISSION_DENIED));
  }
  // Nothing was drained by the refused calls.
  EXPECT_FALSE(server.core().draining());
  EXPECT_THAT(server.log().Matching({"admin_refused", "code=UNAUTHENTICATED"}),
              SizeIs(AllMethods().size()));
  EXPECT_THAT(server.log().Matching({"admin_refused", "code=PERMISSION_DENIED"}),
              SizeIs(2 * AllMethods().size()));
  // The right token gets past the check on every method (Drain last: it drains).
  for (const AdminMethod& m : AllMethods()) {
    SCOPED_TRACE(m.name);
    grpc::Status status = m.call(*admin, AdminCtx().get());
    EXPECT_NE(status.error_code(), Code::UNAUTHENTICATED) << status.error_message();
    EXPECT_NE(status.error_code(), Code::PERMISSION_DENIED) << status.error_message();
  }
  EXPECT_TRUE(server.core().draining());
}

TEST(AdminNoTokenTest, LoopbackCallersAreRefusedOverTcp) {
  // A same-host forwarder (ssh -L, a sidecar) makes any caller loopback: without a
  // token, admin is only served on the admin socket.
  TestServer server{TestServerOptions()};
  auto admin = v1::AdminService::NewStub(server.NewChannel());
  v1::ListSessionsResponse response;
  EXPECT_THAT(admin->ListSessions(AdminCtx("").get(), {}, &response),
              GrpcIs(Code::PERMISSION_DENIED, HasSubstr("admin socket")));
  EXPECT_THAT(admin->ListSessions(AdminCtx("anything").get(), {}, &response),
              GrpcIs(Code::PERMISSION_DENIED));
  v1::DrainResponse drained;
  EXPECT_THAT(admin->Drain(AdminCtx("").get(), {}, &drained),
              GrpcIs(Code::PERMISSION_DENIED));
  EXPECT_FALSE(server.core().draining());
}

TEST(AdminThrottleServerTest, RepeatedWrongTokensAreBlockedWithoutBeingChecked) {
  ServerOptions options = TestServerOptions();
  options.admin_token = kToken;
  options.admin_throttle.first_backoff = absl::Seconds(30);  // outlasts the test
  TestServer server(options);
  auto admin = v1::AdminService::NewStub(server.NewChannel());
  v1::ListSessionsResponse response;
  for (int i = 0; i < 5; ++i) {
    SCOPED_TRACE(i);
    EXPECT_THAT(admin->ListSessions(AdminCtx("wrong-token").get(), {}, &response),
                GrpcIs(Code::PERMISSION_DENIED));
  }
  // Blocked now: even the right token is not looked at.
  for (const std::string token : {"wrong-token", kToken}) {
    EXPECT_THAT(admin->ListSessions(AdminCtx(token).get(), {}, &response),
                GrpcIs(Code::RESOURCE_EXHAUSTED,
                       AllOf(HasSubstr("too many failed admin attempts from 127.0.0.1"),
                             HasSubstr("retry in"))));
  }
  // 7 refusals from one host within well under a second (30 s of block): one line,
  // or a few on a very slow machine, never one per refusal.
  EXPECT_THAT(server.log().Matching({"admin_refused"}).size(), ::testing::Lt(7u));
  EXPECT_THAT(server.log().Matching({"admin_refused"}).size(), ::testing::Ge(1u));
}

TEST(AdminAuthTest, TokenRulesAtStart) {
  struct Case {
    std::string token;
    bool ok;
  };
  const std::vector<Case> cases = {
      {std::string(31, 'a'), false},  // hex only: 124 bits
      {std::string(32, 'a'), true},   // hex only: 128 bits
      {"0123456789ABCDEFabcdef0123456789", true},
      {std::string(21, 'z'), false},  // 126 bits as base64
      {std::string(22, 'z'), true},
      {"x", false},
      {"s3cret-admin-token", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.token);
    ServerOptions options = TestServerOptions();
    options.admin_token = c.token;
    absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options);
    EXPECT_EQ(server.ok(), c.ok) << server.status();
    if (!server.ok()) {
      EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(std::string(server.status().message()),
                  AllOf(HasSubstr("128 bits"), HasSubstr("openssl rand")));
    }
  }
}

TEST(AdminAuthTest, TokenOverPlaintextOffLoopbackIsWarnedAbout) {
  struct Case {
    std::string host;
    bool tls, token, warned;
  };
  const std::vector<Case> cases = {
      {"0.0.0.0", false, true, true},    {"[::]", false, true, true},
      {"10.0.0.5", false, true, true},   {"db.example", false, true, true},
      {"0.0.0.0", true, true, false},    {"0.0.0.0", false, false, false},
      {"127.0.0.1", false, true, false}, {"[::1]", false, true, false},
      {"localhost", false, true, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.host);
    std::optional<std::string> warning = PlaintextTokenWarning(c.host, c.tls, c.token);
    EXPECT_EQ(warning.has_value(), c.warned);
    if (warning.has_value()) {
      EXPECT_THAT(*warning, AllOf(HasSubstr("clear text"), HasSubstr("--tls_cert")));
    }
  }
  // A loopback server with a token logs no such warning.
  ServerOptions options = TestServerOptions();
  options.admin_token = kToken;
  TestServer server(options);
  EXPECT_THAT(server.log().Matching({"admin_token_in_clear"}), SizeIs(0));
}

TEST(CheckAdminCredentialTest, Matrix) {
  struct Case {
    std::string label, configured, header;
    bool has_header;
    bool on_socket;
    absl::StatusCode code;
  };
  using C = absl::StatusCode;
  const std::vector<Case> cases = {
      {"no token, admin socket", "", "", false, true, C::kOk},
      {"no token, TCP", "", "", false, false, C::kPermissionDenied},
      {"no token, TCP with a bearer", "", "Bearer x", true, false, C::kPermissionDenied},
      {"token, admin socket without it", "T0k", "", false, true, C::kOk},
      {"token, admin socket with a wrong one", "T0k", "Bearer no", true, true, C::kOk},
      {"token, none sent", "T0k", "", false, false, C::kUnauthenticated},
      {"token, right", "T0k", "Bearer T0k", true, false, C::kOk},
      {"token, scheme in lower case", "T0k", "bearer T0k", true, false, C::kOk},
      {"token, wrong", "T0k", "Bearer T0K", true, false, C::kPermissionDenied},
      {"token, prefix of it", "T0k", "Bearer T0", true, false, C::kPermissionDenied},
      {"token, longer", "T0k", "Bearer T0kk", true, false, C::kPermissionDenied},
      {"token, empty bearer", "T0k", "Bearer ", true, false, C::kPermissionDenied},
      {"token, no scheme", "T0k", "T0k", true, false, C::kPermissionDenied},
      {"token, other scheme", "T0k", "Basic T0k", true, false, C::kPermissionDenied},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    absl::Status status =
        CheckAdminCredential(c.configured, c.header, c.has_header, c.on_socket);
    EXPECT_EQ(status.code(), c.code) << status;
  }
  absl::Status tcp = CheckAdminCredential("", "", false, false);
  EXPECT_THAT(std::string(tcp.message()),
              AllOf(HasSubstr("admin socket"), HasSubstr("SEMAPHORED_ADMIN_TOKEN")));
}

}  // namespace
}  // namespace semaphored::server::testing
