// The semaphored binary as operators run it: the admin Drain RPC ends the process,
// JSON logs and metrics and the admin token from the environment, TLS from the
// environment, and the limit flags.

#include <httplib.h>

#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "semaphored/v1/admin.grpc.pb.h"
#include "tests/observability/json_check.h"
#include "tests/server/server_process.h"
#include "tests/server/test_certs.h"
#include "tests/server/test_server.h"

namespace semaphored::server::testing {
namespace {

using ::testing::HasSubstr;

TEST(MainOpsTest, DrainRpcWakesWaitersAndTheProcessExitsZero) {
  const std::string token_file = TempPath("token");
  {
    std::ofstream out(token_file, std::ios::trunc);
    out << "file-token-0123456789abcdef\n";
  }
  ASSERT_EQ(chmod(token_file.c_str(), 0600), 0);
  ServerProcess process({"--listen=127.0.0.1:0", "--state_file=",
                         "--admin_token_file=" + token_file});
  const int port = PortOf(process.ReadLine());
  ASSERT_GT(port, 0);
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::SemaphoreService::NewStub(channel);
  auto admin = v1::AdminService::NewStub(channel);
  TestSession holder = OpenSession(*stub, "holder");
  TestSession waiter = OpenSession(*stub, "waiter");
  v1::SetSemaphoreResponse set;
  ASSERT_TRUE(stub->SetSemaphore(Ctx().get(), SetRequest(holder, "x"), &set).ok());
  v1::SetSemaphoreRequest wait = SetRequest(waiter, "x");
  wait.set_wait_indefinitely(true);
  SetCall call(wait);
  Start(*stub, call);
  // The wait is queued once ListSemaphores shows it (also proves the token works).
  const absl::Time give_up = absl::Now() + kRpcDeadline;
  v1::ListSemaphoresResponse listed;
  do {
    ASSERT_TRUE(admin->ListSemaphores(BearerCtx("file-token-0123456789abcdef").get(), {}, &listed).ok());
  } while ((listed.semaphores_size() == 0 || listed.semaphores(0).waiters_size() == 0) &&
           absl::Now() < give_up);
  ASSERT_EQ(listed.semaphores(0).waiters_size(), 1);

  v1::DrainRequest drain;
  drain.set_reason("upgrade");
  v1::DrainResponse drained;
  EXPECT_THAT(admin->Drain(Ctx().get(), drain, &drained),
              GrpcIs(grpc::StatusCode::UNAUTHENTICATED));
  ASSERT_TRUE(admin->Drain(BearerCtx("file-token-0123456789abcdef").get(), drain, &drained).ok());
  EXPECT_EQ(drained.woken_waiters(), 1);
  EXPECT_EQ(drained.ended_sessions(), 2);
  ASSERT_TRUE(call.Await());
  EXPECT_THAT(call.status, GrpcIs(grpc::StatusCode::UNAVAILABLE,
                                  HasSubstr("server is shutting down")));
  std::string rest;
  EXPECT_EQ(process.Wait(&rest), 0) << rest;
  EXPECT_THAT(rest, HasSubstr("admin_drain by=ipv4:127.0.0.1:"));
  EXPECT_THAT(rest, HasSubstr("why=upgrade"));
  EXPECT_THAT(rest, HasSubstr("drain trigger=admin woken_waiters=1 ended_sessions=2"));
  EXPECT_THAT(rest, HasSubstr("shutdown trigger=admin"));
  EXPECT_THAT(rest, HasSubstr("INFO stopped"));
  std::remove(token_file.c_str());
}

TEST(MainOpsTest, JsonLogsAndMetricsFromTheEnvironment) {
  const std::string port_file = TempPath("json_port");
  std::remove(port_file.c_str());
  ServerProcess process(
      {"--listen=127.0.0.1:0", "--state_file=", "--port_file=" + port_file},
      {"SEMAPHORED_LOG_FORMAT=json", "SEMAPHORED_METRICS_ADDRESS=127.0.0.1:0",
       "SEMAPHORED_ADMIN_TOKEN=env-token-0123456789abcdef"});
  const std::string start = process.ReadLine();
  FlatJsonParser parser;
  auto members = parser.Parse(start);
  ASSERT_TRUE(members.has_value()) << start << ": " << parser.error();
  std::map<std::string, std::string> fields;
  for (const auto& [key, value] : *members) fields[key] = value.text;
  EXPECT_EQ(fields["event"], "server_start");
  EXPECT_EQ(fields["admin"], "token");
  EXPECT_EQ(fields["tls"], "off");
  absl::string_view metrics = fields["metrics"];
  ASSERT_TRUE(absl::ConsumePrefix(&metrics, "http://127.0.0.1:")) << fields["metrics"];
  ASSERT_TRUE(absl::ConsumeSuffix(&metrics, "/metrics")) << fields["metrics"];
  const int metrics_port = std::atoi(std::string(metrics).c_str());
  ASSERT_GT(metrics_port, 0);
  std::ifstream in(port_file);
  int port = 0;
  in >> port;
  ASSERT_GT(port, 0);

  TestSession session = OpenSession(*StubFor(port), "metered");
  {
    httplib::Client client("127.0.0.1", metrics_port);
    client.set_read_timeout(10);
    httplib::Result res = client.Get("/metrics");
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_THAT(res->body, HasSubstr("\nsemaphored_sessions 1\n"));
    EXPECT_THAT(res->body, HasSubstr("\nsemaphored_sessions_created_total 1\n"));
  }
  {
    // The admin token came from the environment. (The channel is closed before the
    // SIGTERM: an idle client channel does not read the server's GOAWAY, so the
    // server would wait out its shutdown grace period for that connection.)
    auto admin = v1::AdminService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
    v1::ListSessionsResponse sessions;
    EXPECT_THAT(admin->ListSessions(BearerCtx("wrong").get(), {}, &sessions),
                GrpcIs(grpc::StatusCode::PERMISSION_DENIED));
    EXPECT_TRUE(admin->ListSessions(BearerCtx("env-token-0123456789abcdef").get(), {}, &sessions).ok());
  }

  process.Signal(SIGTERM);
  std::string rest;
  EXPECT_EQ(process.Wait(&rest), 0) << rest;
  // Every line is a JSON object; the session's start and end are there.
  int lines = 0;
  for (absl::string_view line : absl::StrSplit(rest, '\n', absl::SkipEmpty())) {
    ++lines;
    EXPECT_TRUE(parser.Parse(line).has_value()) << line << ": " << parser.error();
  }
  EXPECT_GE(lines, 5);  // session_start, admin_refused, session_end, drain, shutdown...
  EXPECT_THAT(rest, HasSubstr("\"event\":\"session_start\""));
  EXPECT_THAT(rest, HasSubstr(absl::StrCat("\"session\":\"", session.id, "\"")));
  EXPECT_THAT(rest, HasSubstr("\"reason\":\"drain\""));
  EXPECT_THAT(rest, HasSubstr("\"trigger\":\"SIGTERM\""));
  std::remove(port_file.c_str());
}

TEST(MainOpsTest, TlsFromTheEnvironment) {
  TestCerts certs;
  ASSERT_TRUE(certs.ok());
  ServerProcess process({"--listen=127.0.0.1:0", "--state_file="},
                        {"SEMAPHORED_TLS_CERT=" + certs.Cert("server"),
                         "SEMAPHORED_TLS_KEY=" + certs.Key("server"),
                         "SEMAPHORED_TLS_CLIENT_CA=" + certs.Cert("ca")});
  const int port = PortOf(process.ReadLine());
  ASSERT_GT(port, 0);
  EXPECT_THAT(process.ReadLine(), HasSubstr("tls=mutual"));
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = certs.CertPem("ca");
  ssl.pem_cert_chain = certs.CertPem("client");
  ssl.pem_private_key = certs.KeyPem("client");
  v1::PingResponse pong;
  EXPECT_TRUE(v1::SemaphoreService::NewStub(
                  grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                      grpc::SslCredentials(ssl)))
                  ->Ping(Ctx().get(), {}, &pong)
                  .ok());
  EXPECT_THAT(StubFor(port)->Ping(Ctx(absl::Seconds(10)).get(), {}, &pong),
              GrpcIs(grpc::StatusCode::UNAVAILABLE));
  process.Signal(SIGTERM);
  EXPECT_EQ(process.Wait(), 0);
}

TEST(MainOpsTest, LimitsComeFromFlags) {
  ServerProcess process({"--listen=127.0.0.1:0", "--state_file=", "--max_sessions=2",
                         "--max_held_per_session=1", "--max_waiters_per_semaphore=1",
                         "--max_message_bytes=2048"});
  const int port = PortOf(process.ReadLine());
  ASSERT_GT(port, 0);
  auto stub = StubFor(port);
  TestSession a = OpenSession(*stub, "a");
  TestSession b = OpenSession(*stub, "b");
  v1::CreateSessionResponse created;
  EXPECT_THAT(stub->CreateSession(Ctx().get(), {}, &created),
              GrpcIs(grpc::StatusCode::RESOURCE_EXHAUSTED, HasSubstr("max_sessions")));
  v1::SetSemaphoreResponse set;
  ASSERT_TRUE(stub->SetSemaphore(Ctx().get(), SetRequest(a, "x"), &set).ok());
  EXPECT_THAT(stub->SetSemaphore(Ctx().get(), SetRequest(a, "y"), &set),
              GrpcIs(grpc::StatusCode::RESOURCE_EXHAUSTED,
                     HasSubstr("max_held_per_session")));
  v1::SetSemaphoreRequest wait = SetRequest(b, "x");
  wait.set_wait_indefinitely(true);
  SetCall queued(wait);
  Start(*stub, queued);
  const absl::Time give_up = absl::Now() + kRpcDeadline;
  v1::TestSemaphoreResponse tested;
  do {
    v1::TestSemaphoreRequest test;
    test.set_name("x");
    ASSERT_TRUE(stub->TestSemaphore(Ctx().get(), test, &tested).ok());
  } while (tested.state().waiter_count() == 0 && absl::Now() < give_up);
  v1::SetSemaphoreRequest second = SetRequest(a, "x");
  EXPECT_TRUE(stub->SetSemaphore(Ctx().get(), second, &set).ok());  // already held
  v1::SetSemaphoreRequest big = SetRequest(b, std::string(3000, 'n'));
  EXPECT_THAT(stub->SetSemaphore(Ctx().get(), big, &set),
              GrpcIs(grpc::StatusCode::RESOURCE_EXHAUSTED, HasSubstr("larger than max")));
  process.Signal(SIGTERM);
  ASSERT_TRUE(queued.Await());
  EXPECT_THAT(queued.status, GrpcIs(grpc::StatusCode::UNAVAILABLE));
  EXPECT_EQ(process.Wait(), 0);
}

TEST(MainOpsTest, CapsAndPeerLimitsComeFromFlagsAndTheEnvironment) {
  ServerProcess process({"--listen=127.0.0.1:0", "--state_file=", "--max_sessions_per_peer=1"},
                        {"SEMAPHORED_MAX_SEMAPHORES=1"});
  const int port = PortOf(process.ReadLine());
  ASSERT_GT(port, 0);
  auto stub = StubFor(port);
  TestSession a = OpenSession(*stub, "a");
  v1::CreateSessionResponse created;
  EXPECT_THAT(stub->CreateSession(Ctx().get(), {}, &created),
              GrpcIs(grpc::StatusCode::RESOURCE_EXHAUSTED,
                     HasSubstr("--max_sessions_per_peer")));
  v1::SetSemaphoreResponse set;
  ASSERT_TRUE(stub->SetSemaphore(Ctx().get(), SetRequest(a, "x"), &set).ok());
  EXPECT_THAT(stub->SetSemaphore(Ctx().get(), SetRequest(a, "y"), &set),
              GrpcIs(grpc::StatusCode::RESOURCE_EXHAUSTED, HasSubstr("--max_semaphores")));
  process.Signal(SIGTERM);
  EXPECT_EQ(process.Wait(), 0);
}

}  // namespace
}  // namespace semaphored::server::testing
