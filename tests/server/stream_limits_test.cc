// Bounded work per request and per stream: listed holders are capped, a
// stream message carries at most 64 commands, a stream's unsent answers stay within
// its budget (backpressure), and a stream must send its first message in time.
// Against a real server on a loopback port.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "semaphored/v1/admin.grpc.pb.h"
#include "server/service/service_limits.h"
#include "tests/server/test_server.h"

namespace semaphored::server::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using Code = grpc::StatusCode;
using Event = v1::SessionEvent;

constexpr char kAdminToken[] = "0123456789abcdef0123456789abcdef";

// A server with `limits` (and an admin token, so the admin calls below work whatever
// the peer).
ServerOptions OptionsWith(const ServiceLimits& limits) {
  ServerOptions options = TestServerOptions();
  options.service_limits = limits;
  options.admin_token = kAdminToken;
  return options;
}

// Opens a stream for `session`, proven working with a ping (command id 1).
std::unique_ptr<StreamClient> OpenStream(v1::SemaphoreService::Stub& stub,
                                         const TestSession& session) {
  auto stream = std::make_unique<StreamClient>(stub);
  v1::StreamSessionRequest hello;
  hello.set_session_secret(session.secret);
  AddCommand(hello, 1)->mutable_ping();
  EXPECT_TRUE(stream->Send(hello));
  std::vector<Event> events = stream->ReadEvents(1);
  EXPECT_EQ(events.size(), 1u);
  if (!events.empty()) {
    EXPECT_TRUE(events[0].has_ping());
  }
  return stream;
}

// Opens `count` sessions that each hold one permit of `name` (limit `count`), in
// order; returns them in grant order. Client names are `name_bytes` long.
std::vector<TestSession> FillHolders(v1::SemaphoreService::Stub& stub,
                                     const std::string& name, int count,
                                     size_t name_bytes = 8) {
  std::vector<TestSession> holders;
  for (int i = 0; i < count; ++i) {
    std::string client = absl::StrCat("holder-", i);
    client.resize(std::max(client.size(), name_bytes), 'x');
    holders.push_back(OpenSession(stub, client));
    v1::SetSemaphoreRequest request = SetRequest(holders.back(), name);
    request.set_limit(count);
    v1::SetSemaphoreResponse response;
    EXPECT_TRUE(stub.SetSemaphore(Ctx().get(), request, &response).ok());
    EXPECT_TRUE(response.acquired());
  }
  return holders;
}

// The state lists the first `listed` of `holders` (grant order) and counts them all.
void ExpectCapped(const v1::SemaphoreState& state, const std::vector<TestSession>& holders,
                  int listed) {
  EXPECT_EQ(state.holder_count(), static_cast<int>(holders.size()));
  ASSERT_EQ(state.holders_size(), listed);
  for (int i = 0; i < listed; ++i) {
    EXPECT_EQ(state.holders(i).session_id(), holders[i].id) << "holder " << i;
  }
}

TEST(StreamLimitsTest, AnswersListTheFirstHoldersAndCountThemAll) {
  ServerOptions options = OptionsWith(ServiceLimits());
  options.core.max_listed_holders = 3;
  TestServer server(options);
  auto stub = server.NewStub();
  const std::vector<TestSession> holders = FillHolders(*stub, "pool", 5);

  {
    SCOPED_TRACE("unary TestSemaphore");
    v1::TestSemaphoreRequest request;
    request.set_name("pool");
    v1::TestSemaphoreResponse response;
    ASSERT_TRUE(stub->TestSemaphore(Ctx().get(), request, &response).ok());
    ExpectCapped(response.state(), holders, 3);
  }
  TestSession other = OpenSession(*stub, "other");
  {
    SCOPED_TRACE("unary set, not acquired");
    v1::SetSemaphoreResponse response;
    ASSERT_TRUE(stub->SetSemaphore(Ctx().get(), SetRequest(other, "pool"), &response).ok());
    EXPECT_FALSE(response.acquired());
    ExpectCapped(response.state(), holders, 3);
  }
  {
    SCOPED_TRACE("unary wait-for-clear, timed out");
    v1::WaitSemaphoreClearRequest request;
    request.set_session_secret(other.secret);
    request.set_name("pool");
    v1::WaitSemaphoreClearResponse response;
    ASSERT_TRUE(stub->WaitSemaphoreClear(Ctx().get(), request, &response).ok());
    EXPECT_FALSE(response.clear());
    ExpectCapped(response.state(), holders, 3);
  }
  {
    SCOPED_TRACE("stream test, set and wait_clear");
    auto stream = OpenStream(*stub, other);
    v1::StreamSessionRequest request;
    AddCommand(request, 2)->mutable_test()->set_name("pool");
    AddCommand(request, 3)->mutable_set()->set_name("pool");
    AddCommand(request, 4)->mutable_wait_clear()->set_name("pool");
    ASSERT_TRUE(stream->Send(request));
    std::vector<Event> events = stream->ReadEvents(3);
    ASSERT_EQ(events.size(), 3u);
    ExpectCapped(events[0].test().state(), holders, 3);
    ExpectCapped(events[1].set().state(), holders, 3);
    ExpectCapped(events[2].wait_clear().state(), holders, 3);
    EXPECT_THAT(stream->Close(), GrpcIs(Code::OK));
  }
  {
    SCOPED_TRACE("admin ListSemaphores lists every holder");
    auto admin = v1::AdminService::NewStub(server.NewChannel());
    auto context = Ctx();
    context->AddMetadata("authorization", absl::StrCat("Bearer ", kAdminToken));
    v1::ListSemaphoresRequest request;
    v1::ListSemaphoresResponse response;
    ASSERT_THAT(admin->ListSemaphores(context.get(), request, &response),
                GrpcIs(Code::OK));
    ASSERT_EQ(response.semaphores_size(), 1);
    ExpectCapped(response.semaphores(0).state(), holders, 5);
  }
}

TEST(StreamLimitsTest, AMessageWithMoreThan64CommandsEndsTheStream) {
  TestServer server;
  auto stub = server.NewStub();
  struct Case {
    int commands;
    bool accepted;
  };
  for (const Case& c : {Case{kMaxCommandsPerMessage, true},
                        Case{kMaxCommandsPerMessage + 1, false}, Case{5'000, false}}) {
    SCOPED_TRACE(c.commands);
    TestSession session = OpenSession(*stub, "batcher");
    auto stream = OpenStream(*stub, session);
    v1::StreamSessionRequest request;
    for (int i = 0; i < c.commands; ++i) AddCommand(request, 100 + i)->mutable_ping();
    ASSERT_TRUE(stream->Send(request));
    std::vector<Event> rest;
    if (c.accepted) {
      EXPECT_EQ(stream->ReadEvents(c.commands).size(), static_cast<size_t>(c.commands));
      EXPECT_THAT(stream->Close(&rest), GrpcIs(Code::OK));
      continue;
    }
    EXPECT_THAT(stream->Finish(&rest),
                GrpcIs(Code::RESOURCE_EXHAUSTED,
                       AllOf(HasSubstr(absl::StrCat(c.commands, " commands")),
                             HasSubstr("at most 64"))));
    for (const Event& e : rest) {  // only the push telling the session ended
      EXPECT_TRUE(e.has_session_ended()) << "a command of the refused message ran: "
                                         << e.DebugString();
    }
    // The stream's end closed its session, as every stream end does.
    v1::RefreshSessionRequest refresh;
    refresh.set_session_secret(session.secret);
    v1::RefreshSessionResponse refreshed;
    EXPECT_THAT(stub->RefreshSession(Ctx().get(), refresh, &refreshed),
                GrpcIs(Code::UNAUTHENTICATED));
  }
}

TEST(StreamLimitsTest, AStreamThatSendsNothingEndsAtTheFirstMessageDeadline) {
  ServiceLimits limits;
  limits.stream_first_message_timeout = absl::Milliseconds(300);
  TestServer server(OptionsWith(limits));
  auto stub = server.NewStub();
  TestSession session = OpenSession(*stub, "prompt");
  auto prompt = OpenStream(*stub, session);  // its first message came in time

  StreamClient silent(*stub);
  const absl::Time opened = absl::Now();
  EXPECT_THAT(silent.Finish(),
              GrpcIs(Code::DEADLINE_EXCEEDED,
                     AllOf(HasSubstr("no StreamSessionRequest arrived within 300ms"),
                           HasSubstr("--stream_first_message_timeout"))));
  EXPECT_GE(absl::Now() - opened, absl::Milliseconds(300));

  // The stream that spoke in time outlives the deadline.
  v1::StreamSessionRequest request;
  AddCommand(request, 2)->mutable_ping();
  ASSERT_TRUE(prompt->Send(request));
  std::vector<Event> events = prompt->ReadEvents(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0].has_ping());
  EXPECT_THAT(prompt->Close(), GrpcIs(Code::OK));
}

// A client sends far more `test` commands on a semaphore with 100 holders than the
// budget can hold answers for, and reads nothing until the server has paused: the
// server's own count of unsent answer bytes never passes the budget by more than one
// answer; once the client reads, every command is answered exactly once.
TEST(StreamLimitsTest, AClientThatDoesNotReadCannotGrowTheUnsentAnswers) {
  StreamStats stats;
  ServiceLimits limits;
  limits.stream_answer_budget_bytes = kMinStreamAnswerBudgetBytes;  // 64 KiB
  limits.stream_stats = &stats;
  TestServer server(OptionsWith(limits));
  auto stub = server.NewStub();
  const std::vector<TestSession> holders =
      FillHolders(*stub, "crowded", 100, /*name_bytes=*/200);
  TestSession session = OpenSession(*stub, "flooder");
  auto stream = OpenStream(*stub, session);

  // 32 messages of 64 tests: about 50 MB of answers (each lists 100 holders).
  constexpr int kMessages = 32;
  constexpr int kCommands = kMessages * kMaxCommandsPerMessage;
  std::thread writer([&] {
    uint64_t id = 100;
    for (int m = 0; m < kMessages; ++m) {
      v1::StreamSessionRequest request;
      for (int i = 0; i < kMaxCommandsPerMessage; ++i) {
        AddCommand(request, id++)->mutable_test()->set_name("crowded");
      }
      if (!stream->Send(request)) return;
    }
  });
  // Reading nothing, wait (bounded) until the server has stopped for the budget.
  const absl::Time give_up = absl::Now() + kRpcDeadline;
  while (stats.pauses() == 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_GE(stats.pauses(), 1);
  const int64_t unsent_while_not_reading = stats.max_unsent_bytes();

  std::vector<Event> events = stream->ReadEvents(kCommands);
  writer.join();
  ASSERT_EQ(events.size(), static_cast<size_t>(kCommands));
  std::set<uint64_t> ids;
  int64_t largest_answer = 0;
  for (const Event& e : events) {
    ids.insert(e.command_id());
    ASSERT_TRUE(e.has_test()) << e.DebugString();
    ExpectCapped(e.test().state(), holders, 100);
    largest_answer = std::max<int64_t>(largest_answer, e.ByteSizeLong());
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kCommands));
  EXPECT_EQ(*ids.begin(), 100u);
  EXPECT_THAT(stream->Close(), GrpcIs(Code::OK));

  // The budget held: before the client read and over the whole run.
  const int64_t bound = limits.stream_answer_budget_bytes + largest_answer;
  EXPECT_LE(unsent_while_not_reading, bound);
  EXPECT_LE(stats.max_unsent_bytes(), bound);
  EXPECT_GT(stats.max_unsent_bytes(), limits.stream_answer_budget_bytes / 2);
  EXPECT_GE(stats.resumes(), 1);
  // Without the budget, one message's 64 answers alone would have been queued.
  EXPECT_LT(bound, kMaxCommandsPerMessage * largest_answer);
}

}  // namespace
}  // namespace semaphored::server::testing
