// The server's metrics and log lines as an operator sees them: /metrics scraped over
// HTTP from a running server after some activity, and the session and admin log
// lines (text and JSON).

#include <httplib.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "semaphored/v1/admin.grpc.pb.h"
#include "tests/observability/exposition_check.h"
#include "tests/observability/json_check.h"
#include "tests/server/test_server.h"

namespace semaphored::server::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using Code = grpc::StatusCode;

ServerOptions WithMetrics() {
  ServerOptions options = TestServerOptions();
  options.metrics_address = "127.0.0.1:0";
  options.admin_token = kTestAdminToken;
  return options;
}

// GET /metrics from the running server, parsed; fails the test on a malformed answer.
Exposition Scrape(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5);
  client.set_read_timeout(10);
  httplib::Result res = client.Get("/metrics");
  EXPECT_TRUE(res) << httplib::to_string(res.error());
  if (!res) return {};
  EXPECT_EQ(res->status, 200);
  EXPECT_THAT(res->get_header_value("Content-Type"), HasSubstr("version=0.0.4"));
  Exposition e = ParseExposition(res->body);
  EXPECT_EQ(e.error, "") << res->body;
  return e;
}

class MetricsOverHttpTest : public ::testing::Test {
 protected:
  TestServer server_{WithMetrics()};
  std::unique_ptr<v1::SemaphoreService::Stub> stub_ = server_.NewStub();

  v1::SetSemaphoreResponse Set(const v1::SetSemaphoreRequest& request) {
    v1::SetSemaphoreResponse response;
    grpc::Status status = stub_->SetSemaphore(Ctx().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }
  // Polls the endpoint until `series` reads `value`; bounded by kRpcDeadline.
  Exposition AwaitSample(const std::string& series, double value) {
    const absl::Time give_up = absl::Now() + kRpcDeadline;
    Exposition e = Scrape(server_.server().metrics_port());
    while (e.samples[series] != value && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(20));
      e = Scrape(server_.server().metrics_port());
    }
    return e;
  }
};

TEST_F(MetricsOverHttpTest, CountersAndGaugesFollowActivity) {
  ASSERT_GT(server_.server().metrics_port(), 0);
  TestSession a = OpenSession(*stub_, "a");
  TestSession b = OpenSession(*stub_, "b");
  // A unary-only session that is left to expire.
  OpenSession(*stub_, "forgotten", absl::Milliseconds(100));
  ASSERT_TRUE(Set(SetRequest(a, "x")).acquired());
  ASSERT_TRUE(Set(SetRequest(a, "y")).acquired());
  EXPECT_FALSE(Set(SetRequest(b, "x")).acquired());  // a try: no error
  // A wait on y that times out.
  v1::SetSemaphoreRequest timed = SetRequest(b, "y");
  timed.mutable_timeout()->set_nanos(50'000'000);
  EXPECT_FALSE(Set(timed).acquired());
  // A wait on x that is granted when a clears it.
  v1::SetSemaphoreRequest wait = SetRequest(b, "x");
  wait.set_wait_indefinitely(true);
  SetCall call(wait);
  Start(*stub_, call);
  ASSERT_TRUE(server_.AwaitWaiters("x", 1));
  Exposition queued = Scrape(server_.server().metrics_port());
  EXPECT_EQ(queued.samples["semaphored_waiters"], 1);
  EXPECT_EQ(queued.samples["semaphored_held_semaphores"], 2);
  // A rejected request.
  v1::SetSemaphoreResponse rejected;
  EXPECT_THAT(stub_->SetSemaphore(Ctx().get(), SetRequest(a, "$local"), &rejected),
              GrpcIs(Code::INVALID_ARGUMENT));
  v1::ClearSemaphoreRequest clear;
  clear.set_session_secret(a.secret);
  clear.set_name("x");
  v1::ClearSemaphoreResponse cleared;
  ASSERT_TRUE(stub_->ClearSemaphore(Ctx().get(), clear, &cleared).ok());
  ASSERT_TRUE(call.Await());
  ASSERT_TRUE(call.response.acquired());

  AwaitSample("semaphored_sessions_ended_total{reason=\"expired\"}", 1);
  // Scrape again: one scrape reads the gauges before the counters, so the scrape that
  // first shows the expiry counted may still show the session in the gauges.
  Exposition e = Scrape(server_.server().metrics_port());
  EXPECT_EQ(e.samples["semaphored_sessions_ended_total{reason=\"expired\"}"], 1);
  EXPECT_EQ(e.samples["semaphored_sessions_ended_total{reason=\"closed\"}"], 0);
  EXPECT_EQ(e.samples["semaphored_sessions"], 2);
  EXPECT_EQ(e.samples["semaphored_sessions_created_total"], 3);
  EXPECT_EQ(e.samples["semaphored_semaphores"], 2);        // x (b) and y (a)
  EXPECT_EQ(e.samples["semaphored_held_semaphores"], 2);
  EXPECT_EQ(e.samples["semaphored_waiters"], 0);
  EXPECT_EQ(e.samples["semaphored_grants_total"], 3);     // x, y, then x to b
  EXPECT_EQ(e.samples["semaphored_wait_timeouts_total"], 1);
  EXPECT_EQ(e.samples["semaphored_force_clears_total"], 0);
  EXPECT_EQ(e.samples["semaphored_rejected_requests_total{code=\"INVALID_ARGUMENT\"}"], 1);
  EXPECT_EQ(e.samples["semaphored_rejected_requests_total{code=\"NOT_FOUND\"}"], 0);
  EXPECT_EQ(e.samples["semaphored_requests_total{method=\"SetSemaphore\"}"], 6);
  EXPECT_EQ(e.samples["semaphored_requests_total{method=\"CreateSession\"}"], 3);
  EXPECT_EQ(e.samples["semaphored_acquire_wait_seconds_count"], 3);
  EXPECT_GT(e.samples["semaphored_acquire_wait_seconds_sum"], 0);  // b waited for x
  EXPECT_EQ(e.samples["semaphored_hold_seconds_count"], 1);        // a's x
  EXPECT_EQ(e.types["semaphored_acquire_wait_seconds"], "histogram");
  EXPECT_EQ(e.types["semaphored_sessions"], "gauge");
  EXPECT_EQ(e.types["semaphored_grants_total"], "counter");
  // No label carries a semaphore name or a session id.
  EXPECT_EQ(e.label_names, (std::set<std::string>{"code", "le", "method", "reason"}));
}

TEST_F(MetricsOverHttpTest, StreamCommandsAndAdminCallsAreCounted) {
  TestSession s = OpenSession(*stub_, "streamer");
  StreamClient stream(*stub_);
  v1::StreamSessionRequest request;
  request.set_session_secret(s.secret);
  AddCommand(request, 1)->mutable_set()->set_name("a");
  AddCommand(request, 2)->mutable_clear()->set_name("never-set");
  ASSERT_TRUE(stream.Send(request));
  ASSERT_THAT(stream.ReadEvents(2), SizeIs(2));
  auto admin = v1::AdminService::NewStub(server_.NewChannel());
  v1::ForceClearSemaphoreRequest force;
  force.set_name("a");
  force.set_reason("test");
  v1::ForceClearSemaphoreResponse forced;
  ASSERT_TRUE(admin->ForceClearSemaphore(TokenCtx().get(), force, &forced).ok());
  ASSERT_THAT(stream.ReadEvents(1), SizeIs(1));  // the revocation
  EXPECT_TRUE(stream.Close().ok());

  Exposition e = AwaitSample("semaphored_sessions_ended_total{reason=\"closed\"}", 1);
  EXPECT_EQ(e.samples["semaphored_requests_total{method=\"StreamSession\"}"], 1);
  EXPECT_EQ(e.samples["semaphored_requests_total{method=\"StreamSession.set\"}"], 1);
  EXPECT_EQ(e.samples["semaphored_requests_total{method=\"StreamSession.clear\"}"], 1);
  EXPECT_EQ(e.samples["semaphored_requests_total{method=\"ForceClearSemaphore\"}"], 1);
  EXPECT_EQ(e.samples["semaphored_rejected_requests_total{code=\"NOT_FOUND\"}"], 1);
  EXPECT_EQ(e.samples["semaphored_force_clears_total"], 1);
  EXPECT_EQ(e.samples["semaphored_hold_seconds_count"], 1);
}

TEST(ServerLogTest, SessionLinesForEveryEndReasonInText) {
  TestServer server;
  auto stub = server.NewStub();
  TestSession closed = OpenSession(*stub, "worker one");
  TestSession expired = OpenSession(*stub, "cron", absl::Milliseconds(100));
  v1::CloseSessionRequest close;
  close.set_session_secret(closed.secret);
  v1::CloseSessionResponse response;
  ASSERT_TRUE(stub->CloseSession(Ctx().get(), close, &response).ok());
  const std::string start = server.log().Await({"session_start", closed.id});
  EXPECT_THAT(start, HasSubstr(" INFO session_start "));
  EXPECT_THAT(start, HasSubstr("client=\"worker one\""));
  EXPECT_THAT(start, HasSubstr("peer=ipv4:127.0.0.1:"));
  EXPECT_THAT(start, HasSubstr("ttl=10s"));
  EXPECT_THAT(server.log().Await({"session_end", closed.id}),
              HasSubstr("reason=closed released=0"));
  // Expiry of a session that only ever made unary calls is logged too.
  const std::string end = server.log().Await({"session_end", expired.id});
  EXPECT_THAT(end, HasSubstr(" WARN session_end "));
  EXPECT_THAT(end, HasSubstr("client=cron reason=expired"));
}

TEST(ServerLogTest, JsonLinesAreFlatJsonObjects) {
  CapturingLogSink sink;
  ServerOptions options = TestServerOptions();
  options.log_format = LogFormat::kJson;
  options.log_sink = &sink;
  {
    TestServer server(options);
    auto stub = server.NewStub();
    TestSession s = OpenSession(*stub, "json \"client\"");
    ASSERT_FALSE(sink.Await({"session_start"}).empty());
    server.server().Drain("test");
  }
  const std::vector<std::string> lines = sink.Lines();
  ASSERT_THAT(lines, SizeIs(3));  // session_start, session_end, drain
  std::vector<std::string> events;
  for (const std::string& line : lines) {
    SCOPED_TRACE(line);
    ASSERT_EQ(line.back(), '\n');
    FlatJsonParser parser;
    auto members = parser.Parse(absl::string_view(line).substr(0, line.size() - 1));
    ASSERT_TRUE(members.has_value()) << parser.error();
    std::map<std::string, std::string> fields;
    for (const auto& [key, value] : *members) fields[key] = value.text;
    events.push_back(fields["event"]);
    EXPECT_EQ(fields["level"], "INFO");
    if (fields["event"] == "session_start") {
      EXPECT_EQ(fields["client"], "json \"client\"");
    }
    if (fields["event"] == "drain") {
      EXPECT_EQ(fields["trigger"], "test");
    }
  }
  EXPECT_EQ(events, (std::vector<std::string>{"session_start", "session_end", "drain"}));
}

}  // namespace
}  // namespace semaphored::server::testing
