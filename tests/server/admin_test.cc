// semaphored.v1.AdminService against a real server on a loopback port: every method,
// pagination and prefix filtering, force-clear's notifications, drain, and the audit
// lines. The credential checks are in admin_auth_test.cc.

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "semaphored/v1/admin.grpc.pb.h"
#include "server/observability/metrics.h"
#include "server/service/admin_service.h"
#include "tests/server/test_server.h"

namespace semaphored::server::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::StartsWith;
using Code = grpc::StatusCode;
using Admin = v1::AdminService::Stub;

constexpr char kToken[] = "s3cret-admin-token-0123456789";

ServerOptions WithToken(const std::string& token) {
  ServerOptions options = TestServerOptions();
  options.admin_token = token;
  return options;
}

// A context carrying "authorization: Bearer TOKEN" (none when `token` is empty).
std::unique_ptr<grpc::ClientContext> AdminCtx(const std::string& token = kToken) {
  std::unique_ptr<grpc::ClientContext> context = Ctx();
  if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
  return context;
}

class AdminTest : public ::testing::Test {
 protected:
  TestServer server_{WithToken(kToken)};
  std::unique_ptr<v1::SemaphoreService::Stub> stub_ = server_.NewStub();
  std::unique_ptr<Admin> admin_ = v1::AdminService::NewStub(server_.NewChannel());

  v1::Grant MustSet(const TestSession& session, const std::string& name) {
    v1::SetSemaphoreResponse response;
    grpc::Status status =
        stub_->SetSemaphore(Ctx().get(), SetRequest(session, name), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_TRUE(response.acquired()) << name;
    return response.grant();
  }
  v1::ListSemaphoresResponse ListSemaphores(const std::string& prefix, int page_size,
                                            const std::string& token = "") {
    v1::ListSemaphoresRequest request;
    request.set_prefix(prefix);
    request.set_page_size(page_size);
    request.set_page_token(token);
    v1::ListSemaphoresResponse response;
    grpc::Status status = admin_->ListSemaphores(AdminCtx().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }
  grpc::Status ForceClear(const std::string& name, const std::string& reason,
                          v1::ForceClearSemaphoreResponse* response) {
    v1::ForceClearSemaphoreRequest request;
    request.set_name(name);
    request.set_reason(reason);
    return admin_->ForceClearSemaphore(AdminCtx().get(), request, response);
  }
  // Starts a queued set of `name` for `session`, proven queued.
  std::unique_ptr<SetCall> StartWaiting(const TestSession& session,
                                        const std::string& name, int waiters_after) {
    v1::SetSemaphoreRequest request = SetRequest(session, name);
    request.set_wait_indefinitely(true);
    auto call = std::make_unique<SetCall>(request);
    Start(*stub_, *call);
    EXPECT_TRUE(server_.AwaitWaiters(name, waiters_after));
    return call;
  }
};

TEST_F(AdminTest, ListSemaphoresShowsHoldersAndWaiters) {
  TestSession a = OpenSession(*stub_, "holder-a");
  TestSession b = OpenSession(*stub_, "waiter-b");
  const v1::Grant grant = MustSet(a, "jobs/a");
  MustSet(a, "jobs/b");
  MustSet(b, "other/x");
  std::unique_ptr<SetCall> waiting = StartWaiting(b, "jobs/a", 1);

  v1::ListSemaphoresResponse page = ListSemaphores("jobs/", 0);
  ASSERT_THAT(page.semaphores(), SizeIs(2));
  EXPECT_TRUE(page.next_page_token().empty());
  const v1::SemaphoreDetail& first = page.semaphores(0);
  EXPECT_EQ(first.state().name(), "jobs/a");
  EXPECT_TRUE(first.state().set());
  EXPECT_EQ(first.state().limit(), 1);
  ASSERT_THAT(first.state().holders(), SizeIs(1));
  EXPECT_EQ(first.state().holders(0).session_id(), a.id);
  EXPECT_EQ(first.state().holders(0).client_name(), "holder-a");
  EXPECT_EQ(first.state().holders(0).grant().fencing_token(), grant.fencing_token());
  EXPECT_EQ(first.state().holders(0).grant().permits(), 1);
  ASSERT_THAT(first.waiters(), SizeIs(1));
  EXPECT_EQ(first.waiters(0).session_id(), b.id);
  EXPECT_EQ(first.waiters(0).client_name(), "waiter-b");
  EXPECT_EQ(first.waiters(0).permits(), 1);
  EXPECT_GT(first.waiters(0).enqueue_time().seconds(), 0);
  EXPECT_EQ(page.semaphores(1).state().name(), "jobs/b");
  EXPECT_THAT(page.semaphores(1).waiters(), IsEmpty());
  // No prefix: everything.
  EXPECT_THAT(ListSemaphores("", 0).semaphores(), SizeIs(3));
}

TEST_F(AdminTest, ListSemaphoresPaginatesWithinThePrefix) {
  TestSession a = OpenSession(*stub_, "a");
  for (int i = 0; i < 7; ++i) MustSet(a, absl::StrCat("p/", i));
  MustSet(a, "q/0");
  MustSet(a, "o/0");
  std::vector<std::string> names;
  std::vector<int> sizes;
  std::string token;
  for (int round = 0; round < 10; ++round) {  // bounded: 3 pages expected
    v1::ListSemaphoresResponse page = ListSemaphores("p/", 3, token);
    sizes.push_back(page.semaphores_size());
    for (const auto& s : page.semaphores()) names.push_back(s.state().name());
    token = page.next_page_token();
    if (token.empty()) break;
  }
  EXPECT_THAT(sizes, ElementsAre(3, 3, 1));
  EXPECT_THAT(names, ElementsAre("p/0", "p/1", "p/2", "p/3", "p/4", "p/5", "p/6"));
  // A page of exactly the remaining size says there is no more.
  v1::ListSemaphoresResponse all = ListSemaphores("p/", 7);
  EXPECT_THAT(all.semaphores(), SizeIs(7));
  EXPECT_TRUE(all.next_page_token().empty());
}

TEST_F(AdminTest, ListSemaphoresRejectsBadArguments) {
  struct Case {
    std::string label;
    v1::ListSemaphoresRequest request;
    std::string message;
  };
  std::vector<Case> cases(4);
  cases[0] = {"negative page_size", {}, "page_size"};
  cases[0].request.set_page_size(-1);
  cases[1] = {"foreign page_token", {}, "page_token"};
  cases[1].request.set_page_token("not base64 !!!");
  cases[2] = {"long prefix", {}, "prefix"};
  cases[2].request.set_prefix(std::string(256, 'p'));
  cases[3] = {"prefix not UTF-8", {}, "UTF-8"};
  cases[3].request.set_prefix("bad\xff");
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    v1::ListSemaphoresResponse response;
    EXPECT_THAT(admin_->ListSemaphores(AdminCtx().get(), c.request, &response),
                GrpcIs(Code::INVALID_ARGUMENT, HasSubstr(c.message)));
  }
}

TEST_F(AdminTest, ListSessionsPaginatesInIdOrder) {
  std::set<std::string> opened;
  for (int i = 0; i < 5; ++i) opened.insert(OpenSession(*stub_, absl::StrCat("c", i)).id);
  std::vector<std::string> ids;
  std::vector<int> sizes;
  std::string token;
  for (int round = 0; round < 10; ++round) {
    v1::ListSessionsRequest request;
    request.set_page_size(2);
    request.set_page_token(token);
    v1::ListSessionsResponse page;
    ASSERT_TRUE(admin_->ListSessions(AdminCtx().get(), request, &page).ok());
    sizes.push_back(page.sessions_size());
    for (const v1::SessionInfo& s : page.sessions()) {
      ids.push_back(s.session_id());
      EXPECT_THAT(s.client_name(), StartsWith("c"));
      EXPECT_EQ(s.peer(), "127.0.0.1");  // the host, the per-peer limits' key
      EXPECT_GT(s.expire_time().seconds(), s.create_time().seconds());
    }
    token = page.next_page_token();
    if (token.empty()) break;
  }
  EXPECT_THAT(sizes, ElementsAre(2, 2, 1));
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()), opened);

  v1::ListSessionsRequest bad;
  bad.set_page_token("zz");
  v1::ListSessionsResponse response;
  EXPECT_THAT(admin_->ListSessions(AdminCtx().get(), bad, &response),
              GrpcIs(Code::INVALID_ARGUMENT, HasSubstr("page_token")));
}

TEST_F(AdminTest, GetSessionShowsWhatItHolds) {
  TestSession a = OpenSession(*stub_, "getter");
  MustSet(a, "z");
  MustSet(a, "m");
  v1::GetSessionRequest request;
  request.set_session_id(a.id);
  v1::GetSessionResponse response;
  ASSERT_TRUE(admin_->GetSession(AdminCtx().get(), request, &response).ok());
  EXPECT_EQ(response.session().session_id(), a.id);
  EXPECT_EQ(response.session().client_name(), "getter");
  EXPECT_EQ(response.session().held_count(), 2);
  EXPECT_THAT(response.held_names(), ElementsAre("m", "z"));

  request.set_session_id("00000000000000ff");
  EXPECT_THAT(admin_->GetSession(AdminCtx().get(), request, &response),
              GrpcIs(Code::NOT_FOUND));
  request.set_session_id("not-an-id");
  EXPECT_THAT(admin_->GetSession(AdminCtx().get(), request, &response),
              GrpcIs(Code::INVALID_ARGUMENT, HasSubstr("16 lowercase hex")));
}

TEST_F(AdminTest, EndSessionReleasesHandsOnAndIsAudited) {
  TestSession a = OpenSession(*stub_, "victim");
  TestSession b = OpenSession(*stub_, "next");
  MustSet(a, "x");
  std::unique_ptr<SetCall> waiting = StartWaiting(b, "x", 1);

  v1::EndSessionRequest request;
  request.set_session_id(a.id);
  v1::EndSessionResponse response;
  EXPECT_THAT(admin_->EndSession(AdminCtx().get(), request, &response),
              GrpcIs(Code::INVALID_ARGUMENT, HasSubstr("reason is required")));
  request.set_reason("stuck worker");
  ASSERT_TRUE(admin_->EndSession(AdminCtx().get(), request, &response).ok());
  EXPECT_EQ(response.released_count(), 1);
  ASSERT_TRUE(waiting->Await());
  ASSERT_TRUE(waiting->status.ok()) << waiting->status.error_message();
  EXPECT_TRUE(waiting->response.acquired());
  // The ended session's next call fails, saying why.
  v1::SetSemaphoreResponse set;
  EXPECT_THAT(stub_->SetSemaphore(Ctx().get(), SetRequest(a, "y"), &set),
              GrpcIs(Code::UNAUTHENTICATED, HasSubstr("stuck worker")));
  EXPECT_THAT(admin_->EndSession(AdminCtx().get(), request, &response),
              GrpcIs(Code::NOT_FOUND));
  EXPECT_THAT(server_.log().Matching({"admin_end_session", a.id, "why=\"stuck worker\"",
                                      "by=ipv4:127.0.0.1:"}),
              SizeIs(1));
  EXPECT_THAT(server_.log().Matching({"session_end", a.id, "reason=admin"}), SizeIs(1));
  EXPECT_THAT(server_.log().Matching({"admin_refused", "action=end_session",
                                      "code=NOT_FOUND"}),
              SizeIs(1));
}

TEST_F(AdminTest, ForceClearTellsTheStreamHolderAndGrantsTheNextWaiter) {
  TestSession holder = OpenSession(*stub_, "streamer");
  StreamClient stream(*stub_);
  v1::StreamSessionRequest hello;
  hello.set_session_secret(holder.secret);
  AddCommand(hello, 1)->mutable_set()->set_name("x");
  ASSERT_TRUE(stream.Send(hello));
  std::vector<v1::SessionEvent> events = stream.ReadEvents(1);
  ASSERT_THAT(events, SizeIs(1));
  ASSERT_TRUE(events[0].set().acquired());
  const uint64_t token = events[0].set().grant().fencing_token();
  TestSession next = OpenSession(*stub_, "next");
  std::unique_ptr<SetCall> waiting = StartWaiting(next, "x", 1);

  v1::ForceClearSemaphoreResponse response;
  ASSERT_TRUE(ForceClear("x", "holder is stuck", &response).ok());
  ASSERT_THAT(response.revoked(), SizeIs(1));
  EXPECT_EQ(response.revoked(0).session_id(), holder.id);
  EXPECT_EQ(response.revoked(0).client_name(), "streamer");
  EXPECT_EQ(response.revoked(0).grant().fencing_token(), token);

  events = stream.ReadEvents(1);
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].command_id(), 0u);
  ASSERT_TRUE(events[0].has_revoked());
  EXPECT_EQ(events[0].revoked().name(), "x");
  EXPECT_THAT(events[0].revoked().reason(), HasSubstr("holder is stuck"));
  EXPECT_EQ(events[0].revoked().fencing_token(), token);

  ASSERT_TRUE(waiting->Await());
  ASSERT_TRUE(waiting->status.ok()) << waiting->status.error_message();
  EXPECT_TRUE(waiting->response.acquired());
  EXPECT_GT(waiting->response.grant().fencing_token(), token);
  EXPECT_THAT(server_.log().Matching({"admin_force_clear", "name=x", holder.id,
                                      "why=\"holder is stuck\"", "by=ipv4:127.0.0.1:"}),
              SizeIs(1));
  EXPECT_THAT(server_.server().metrics().Render(),
              HasSubstr("\nsemaphored_force_clears_total 1\n"));
  EXPECT_TRUE(stream.Close().ok());
}

TEST_F(AdminTest, ForceClearRejectsBadRequests) {
  struct Case {
    std::string label, name, reason;
    Code code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"not set", "nobody", "r", Code::NOT_FOUND, "not set"},
      {"local name", "$mine", "r", Code::INVALID_ARGUMENT, "'$'"},
      {"empty name", "", "r", Code::INVALID_ARGUMENT, "empty"},
      {"name not UTF-8", "bad\xff", "r", Code::INVALID_ARGUMENT, "UTF-8"},
      {"no reason", "x", "", Code::INVALID_ARGUMENT, "reason is required"},
      {"reason with a control character", "x", "a\nb", Code::INVALID_ARGUMENT, "reason"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    v1::ForceClearSemaphoreResponse response;
    EXPECT_THAT(ForceClear(c.name, c.reason, &response),
                GrpcIs(c.code, HasSubstr(c.message)));
  }
}

TEST_F(AdminTest, GetClusterOfASingleServerIsItselfAsTheLeader) {
  v1::GetClusterResponse cluster;
  grpc::Status status = admin_->GetCluster(AdminCtx().get(), {}, &cluster);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(cluster.mode(), v1::CLUSTER_MODE_SINGLE_SERVER);
  EXPECT_EQ(cluster.leader_address(), server_.server().address());
  EXPECT_EQ(cluster.answered_by(), server_.server().address());
  ASSERT_THAT(cluster.servers(), SizeIs(1));
  EXPECT_EQ(cluster.servers(0).address(), server_.server().address());
  EXPECT_EQ(cluster.servers(0).role(), v1::SERVER_ROLE_LEADER);
  EXPECT_GT(cluster.servers(0).start_time().seconds(), 0);
  EXPECT_THAT(cluster.etcd_endpoints(), IsEmpty());
  EXPECT_THAT(cluster.etcd_error(), IsEmpty());
}

TEST_F(AdminTest, DrainWakesWaitersAnswersAndRequestsShutdown) {
  TestSession a = OpenSession(*stub_, "a");
  TestSession b = OpenSession(*stub_, "b");
  MustSet(a, "x");
  std::unique_ptr<SetCall> waiting = StartWaiting(b, "x", 1);
  EXPECT_FALSE(server_.server().AwaitShutdownRequest(absl::ZeroDuration()).has_value());

  v1::DrainRequest request;
  request.set_reason("maintenance window");
  v1::DrainResponse response;
  ASSERT_TRUE(admin_->Drain(AdminCtx().get(), request, &response).ok());
  EXPECT_EQ(response.woken_waiters(), 1);
  EXPECT_EQ(response.ended_sessions(), 2);
  ASSERT_TRUE(waiting->Await());
  EXPECT_THAT(waiting->status,
              GrpcIs(Code::UNAVAILABLE, HasSubstr("server is shutting down")));
  EXPECT_EQ(server_.server().AwaitShutdownRequest(kRpcDeadline), "admin");

  auto health = grpc::health::v1::Health::NewStub(server_.NewChannel());
  grpc::health::v1::HealthCheckResponse checked;
  ASSERT_TRUE(health->Check(Ctx().get(), {}, &checked).ok());
  EXPECT_EQ(checked.status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  v1::CreateSessionResponse created;
  EXPECT_THAT(stub_->CreateSession(Ctx().get(), {}, &created),
              GrpcIs(Code::UNAVAILABLE));
  EXPECT_THAT(server_.log().Matching({"admin_drain", "why=\"maintenance window\""}),
              SizeIs(1));
  EXPECT_THAT(server_.log().Matching(
                  {"drain", "trigger=admin", "woken_waiters=1", "ended_sessions=2"}),
              SizeIs(1));
  EXPECT_THAT(server_.log().Matching({"session_end", "reason=drain"}), SizeIs(2));
}

}  // namespace
}  // namespace semaphored::server::testing
