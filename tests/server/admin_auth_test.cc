// Who may call semaphored.v1.AdminService: the token matrix through a real server,
// loopback access without a token, and CheckAdminCredential's decisions for peers a
// loopback test cannot produce.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "semaphored/v1/admin.grpc.pb.h"
#include "server/service/admin_service.h"
#include "tests/server/test_server.h"

namespace semaphored::internal::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using Code = grpc::StatusCode;
using Admin = v1::AdminService::Stub;

constexpr char kToken[] = "s3cret-admin-token";

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
      {"Drain",
       [](Admin& a, grpc::ClientContext* c) {
         v1::DrainResponse r;
         return a.Drain(c, {}, &r);
       }},
  };
}

TEST(AdminAuthTest, EveryMethodNeedsTheRightToken) {
  ServerOptions options = TestServerOptions();
  options.admin_token = kToken;
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

TEST(AdminNoTokenTest, LoopbackCallersAreServedWithoutAToken) {
  TestServer server{TestServerOptions()};
  auto admin = v1::AdminService::NewStub(server.NewChannel());
  v1::ListSessionsResponse response;
  EXPECT_TRUE(admin->ListSessions(AdminCtx("").get(), {}, &response).ok());
  // A token sent anyway is ignored: there is none to compare with.
  EXPECT_TRUE(admin->ListSessions(AdminCtx("anything").get(), {}, &response).ok());
}

TEST(CheckAdminCredentialTest, Matrix) {
  struct Case {
    std::string label, configured, header;
    bool has_header;
    std::string peer;
    absl::StatusCode code;
  };
  using C = absl::StatusCode;
  const std::vector<Case> cases = {
      {"no token, IPv4 loopback", "", "", false, "ipv4:127.0.0.1:4000", C::kOk},
      {"no token, other 127/8", "", "", false, "ipv4:127.1.2.3:4000", C::kOk},
      {"no token, IPv6 loopback", "", "", false, "ipv6:[::1]:4000", C::kOk},
      {"no token, mapped loopback", "", "", false, "ipv6:[::ffff:127.0.0.1]:1", C::kOk},
      {"no token, unix socket", "", "", false, "unix:/run/semaphored.sock", C::kOk},
      {"no token, LAN peer", "", "", false, "ipv4:10.1.2.3:4000", C::kPermissionDenied},
      {"no token, 128.x peer", "", "", false, "ipv4:128.0.0.1:4000",
       C::kPermissionDenied},
      {"no token, IPv6 peer", "", "", false, "ipv6:[2001:db8::1]:4000",
       C::kPermissionDenied},
      {"no token, ::1 lookalike", "", "", false, "ipv6:[::10]:4000",
       C::kPermissionDenied},
      {"no token, bearer from LAN", "", "Bearer x", true, "ipv4:10.1.2.3:4000",
       C::kPermissionDenied},
      {"token, none sent", "T0k", "", false, "ipv4:127.0.0.1:4000", C::kUnauthenticated},
      {"token, right, LAN peer", "T0k", "Bearer T0k", true, "ipv4:10.1.2.3:1", C::kOk},
      {"token, scheme in lower case", "T0k", "bearer T0k", true, "ipv4:10.1.2.3:1",
       C::kOk},
      {"token, wrong", "T0k", "Bearer T0K", true, "ipv4:127.0.0.1:1",
       C::kPermissionDenied},
      {"token, prefix of it", "T0k", "Bearer T0", true, "ipv4:127.0.0.1:1",
       C::kPermissionDenied},
      {"token, longer", "T0k", "Bearer T0kk", true, "ipv4:127.0.0.1:1",
       C::kPermissionDenied},
      {"token, empty bearer", "T0k", "Bearer ", true, "ipv4:127.0.0.1:1",
       C::kPermissionDenied},
      {"token, no scheme", "T0k", "T0k", true, "ipv4:127.0.0.1:1", C::kPermissionDenied},
      {"token, other scheme", "T0k", "Basic T0k", true, "ipv4:127.0.0.1:1",
       C::kPermissionDenied},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    absl::Status status = CheckAdminCredential(c.configured, c.header, c.has_header, c.peer);
    EXPECT_EQ(status.code(), c.code) << status;
  }
  absl::Status lan = CheckAdminCredential("", "", false, "ipv4:10.1.2.3:4000");
  EXPECT_THAT(std::string(lan.message()),
              AllOf(HasSubstr("loopback"), HasSubstr("10.1.2.3"),
                    HasSubstr("SEMAPHORED_ADMIN_TOKEN")));
}

}  // namespace
}  // namespace semaphored::internal::testing
