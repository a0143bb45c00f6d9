// The semaphored binary as a process: flags, environment, the listening line, the
// port file, a clean exit on SIGTERM that wakes waiters first, and --help.

#include <signal.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/server/server_process.h"
#include "tests/server/test_server.h"

namespace semaphored::server::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

TEST(MainTest, ServesAndExitsCleanlyOnSigtermWakingWaiters) {
  const std::string port_file = TempPath("port");
  const std::string state_file = TempPath("state");
  std::remove(port_file.c_str());
  ServerProcess process(
      {"--listen=127.0.0.1:0", "--port_file=" + port_file, "--state_file=" + state_file});
  const std::string line = process.ReadLine();
  EXPECT_THAT(line, MatchesRegex("semaphored: listening on 127\\.0\\.0\\.1:[0-9]+"));
  const int port = PortOf(line);
  ASSERT_GT(port, 0);
  std::ifstream in(port_file);
  int written = 0;
  in >> written;
  EXPECT_EQ(written, port);

  auto stub = StubFor(port);
  auto health = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  grpc::health::v1::HealthCheckResponse serving;
  ASSERT_TRUE(health->Check(Ctx().get(), {}, &serving).ok());
  EXPECT_EQ(serving.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  TestSession holder = OpenSession(*stub, "holder");
  TestSession waiter = OpenSession(*stub, "waiter");
  v1::SetSemaphoreResponse set;
  ASSERT_TRUE(stub->SetSemaphore(Ctx().get(), SetRequest(holder, "x"), &set).ok());
  ASSERT_TRUE(set.acquired());
  v1::SetSemaphoreRequest wait = SetRequest(waiter, "x");
  wait.set_wait_indefinitely(true);
  SetCall call(wait);
  Start(*stub, call);
  // Make sure the wait is queued: a test on the semaphore shows it.
  const absl::Time give_up = absl::Now() + kRpcDeadline;
  v1::TestSemaphoreResponse tested;
  do {
    v1::TestSemaphoreRequest test;
    test.set_name("x");
    ASSERT_TRUE(stub->TestSemaphore(Ctx().get(), test, &tested).ok());
  } while (tested.state().waiter_count() == 0 && absl::Now() < give_up);
  ASSERT_EQ(tested.state().waiter_count(), 1);

  process.Signal(SIGTERM);
  ASSERT_TRUE(call.Await());
  EXPECT_THAT(call.status, GrpcIs(grpc::StatusCode::UNAVAILABLE,
                                  HasSubstr("server is shutting down")));
  std::string rest;
  EXPECT_EQ(process.Wait(&rest), 0) << rest;
  EXPECT_THAT(rest, HasSubstr("SIGTERM"));
  // The fencing token state was recorded.
  std::ifstream state(state_file);
  EXPECT_TRUE(state.good());
  std::remove(port_file.c_str());
  std::remove(state_file.c_str());
}

TEST(MainTest, FlagsComeFromTheEnvironmentAndTheCommandLineWins) {
  ServerProcess from_env({"--listen=127.0.0.1:0", "--state_file="},
                         {"SEMAPHORED_DEFAULT_TTL=7s", "SEMAPHORED_MIN_TTL=2s"});
  const int port = PortOf(from_env.ReadLine());
  ASSERT_GT(port, 0);
  v1::CreateSessionResponse created;
  ASSERT_TRUE(StubFor(port)->CreateSession(Ctx().get(), {}, &created).ok());
  EXPECT_EQ(created.ttl().seconds(), 7);
  v1::CreateSessionRequest too_short;
  too_short.mutable_ttl()->set_seconds(1);
  EXPECT_THAT(StubFor(port)->CreateSession(Ctx().get(), too_short, &created),
              GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("2s")));
  from_env.Signal(SIGINT);
  EXPECT_EQ(from_env.Wait(), 0);

  ServerProcess both({"--listen=127.0.0.1:0", "--state_file=", "--default_ttl=9s"},
                     {"SEMAPHORED_DEFAULT_TTL=7s"});
  const int port2 = PortOf(both.ReadLine());
  ASSERT_GT(port2, 0);
  ASSERT_TRUE(StubFor(port2)->CreateSession(Ctx().get(), {}, &created).ok());
  EXPECT_EQ(created.ttl().seconds(), 9);
  both.Signal(SIGTERM);
  EXPECT_EQ(both.Wait(), 0);
}

TEST(MainTest, TheListeningLineOfAWildcardAddressSaysWhereToConnectLocally) {
  ServerProcess process({"--listen=0.0.0.0:0", "--state_file="});
  const std::string line = process.ReadLine();
  ASSERT_THAT(line, MatchesRegex("semaphored: listening on 0\\.0\\.0\\.0:[0-9]+ "
                                 "\\(all addresses; locally 127\\.0\\.0\\.1:[0-9]+\\)"));
  const std::string port = line.substr(line.rfind(':') + 1, line.size() - line.rfind(':') - 2);
  EXPECT_THAT(line, HasSubstr(absl::StrCat("0.0.0.0:", port, " ")));
  v1::PingResponse pong;
  EXPECT_TRUE(StubFor(std::stoi(port))->Ping(Ctx().get(), {}, &pong).ok());
  process.Signal(SIGTERM);
  EXPECT_EQ(process.Wait(), 0);
}

TEST(MainTest, BadConfigurationExitsWithAMessage) {
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--min_ttl=10s", "--default_ttl=5s"}, {}, "--min_ttl"},
      {{}, {"SEMAPHORED_MAX_TTL=soon"}, "SEMAPHORED_MAX_TTL"},
      {{"--listen=nonsense"}, {}, "nonsense"},
      {{"--max_sessions=0"}, {}, "--max_sessions"},
      {{"--max_holds=0"}, {}, "--max_holds"},
      {{"--session_rate_per_peer=-1"}, {}, "--session_rate_per_peer"},
      {{"--tls_cert=/nonexistent/cert.pem"}, {}, "--tls_key"},
      {{"--tls_cert=/nonexistent/c.pem", "--tls_key=/nonexistent/k.pem"},
       {},
       "/nonexistent/c.pem"},
      {{"--tls_client_ca=/nonexistent/ca.pem"}, {}, "--tls_client_ca"},
      {{"--admin_token=a", "--admin_token_file=/nonexistent/t"}, {}, "not both"},
      {{"--admin_token_file=/nonexistent/t"}, {}, "/nonexistent/t"},
      {{}, {"SEMAPHORED_ADMIN_TOKEN=two words\tand a tab"}, "printable ASCII"},
      {{"--admin_token=0123456789abcdef"}, {}, "at least 128 bits"},
      {{"--listen=127.0.0.1:0", "--admin_socket=/nonexistent/dir/admin.sock"},
       {},
       "--admin_socket: cannot create the admin socket directory"},
      {{"--log_format=xml"}, {}, "text or json"},
      {{}, {"SEMAPHORED_LOG_FORMAT=yaml"}, "SEMAPHORED_LOG_FORMAT"},
      {{"--metrics_address=nonsense"}, {}, "--metrics_address"},
      {{"--max_listed_holders=0"}, {}, "--max_listed_holders must be at least 1"},
      {{}, {"SEMAPHORED_STREAM_ANSWER_BUDGET_BYTES=1000"}, "--stream_answer_budget_bytes"},
      {{"--stream_first_message_timeout=0s"}, {}, "--stream_first_message_timeout"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    std::vector<std::string> args = c.args;
    args.push_back("--state_file=");
    ServerProcess process(args, c.env);
    std::string output;
    const int code = process.Wait(&output);
    EXPECT_NE(code, 0);
    EXPECT_NE(code, -1);
    EXPECT_THAT(output, HasSubstr(c.message));
  }
}


TEST(MainTest, HelpListsEveryFlag) {
  FILE* help = popen(SEMAPHORED_BINARY " --help 2>&1", "r");
  ASSERT_NE(help, nullptr);
  std::string text;
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, help)) > 0) text.append(chunk, n);
  pclose(help);
  for (const char* flag :
       {"--listen", "--default_ttl", "--min_ttl", "--max_ttl", "--state_file",
        "--max_sessions", "--max_held_per_session", "--max_waiters_per_semaphore",
        "--max_message_bytes", "--port_file", "--admin_token", "--admin_token_file",
        "--admin_socket",
        "--tls_cert", "--tls_key", "--tls_client_ca", "--metrics_address",
        "--log_format", "--max_listed_holders", "--stream_answer_budget_bytes",
        "--stream_first_message_timeout", "SEMAPHORED_",
        "--max_semaphores", "--max_holds", "--max_waiters", "--max_waiters_per_session",
        "--max_sessions_per_peer", "--session_rate_per_peer", "--session_burst_per_peer"}) {
    EXPECT_THAT(text, HasSubstr(flag));
  }
}

}  // namespace
}  // namespace semaphored::server::testing
