// SemaphoreService.StreamSession against a real server on a loopback port.

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/test_server.h"

namespace semaphored::server::testing {

using ::semaphored::internal::ParseSessionId;
using ::semaphored::internal::SessionId;
namespace {

using ::testing::HasSubstr;
using Code = grpc::StatusCode;
using Event = v1::SessionEvent;

v1::SessionCommand* Add(v1::StreamSessionRequest& request, uint64_t id) {
  v1::SessionCommand* command = request.add_commands();
  command->set_command_id(id);
  return command;
}

// A data dir for the durable variant: made by mkdtemp, removed with its contents.
class DataDir {
 public:
  explicit DataDir(bool make) {
    if (!make) return;
    std::string pattern = ::testing::TempDir() + "semaphored_stream_XXXXXX";
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
    EXPECT_FALSE(path_.empty()) << "mkdtemp failed";
  }
  ~DataDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

ServerOptions StreamServerOptions(const DataDir& dir) {
  ServerOptions options = TestServerOptions();
  options.data_dir = dir.path();
  return options;
}

// Every case runs against the server in memory and against the durable one (a data
// dir: every answer waits for its commit), which must answer the same.
class StreamTest : public ::testing::TestWithParam<bool> {
 protected:
  DataDir data_dir_{GetParam()};
  TestServer server_{StreamServerOptions(data_dir_)};
  std::unique_ptr<v1::SemaphoreService::Stub> stub_ = server_.NewStub();

  // Opens a session and a stream for it, proven working with a ping.
  std::unique_ptr<StreamClient> OpenStream(TestSession* session,
                                           const std::string& client = "streamer") {
    *session = OpenSession(*stub_, client);
    auto stream = std::make_unique<StreamClient>(*stub_);
    v1::StreamSessionRequest hello;
    hello.set_session_secret(session->secret);
    Add(hello, 1)->mutable_ping();
    EXPECT_TRUE(stream->Send(hello));
    std::vector<Event> events = stream->ReadEvents(1);
    EXPECT_EQ(events.size(), 1u);
    if (!events.empty()) {
      EXPECT_TRUE(events[0].has_ping());
    }
    return stream;
  }
  v1::SemaphoreState Test(const std::string& name) {
    v1::TestSemaphoreRequest request;
    request.set_name(name);
    v1::TestSemaphoreResponse response;
    EXPECT_TRUE(stub_->TestSemaphore(Ctx().get(), request, &response).ok());
    return response.state();
  }
  void MustSet(const TestSession& session, const std::string& name) {
    v1::SetSemaphoreResponse response;
    ASSERT_TRUE(
        stub_->SetSemaphore(Ctx().get(), SetRequest(session, name), &response).ok());
    ASSERT_TRUE(response.acquired());
  }
};

TEST_P(StreamTest, BatchedCommandsAreAnsweredTogetherMatchedById) {
  TestSession session;
  auto stream = OpenStream(&session);
  v1::StreamSessionRequest request;
  Add(request, 10)->mutable_set()->set_name("a");
  Add(request, 11)->mutable_set()->set_name("b");
  Add(request, 12)->mutable_test()->set_name("a");
  Add(request, 13)->mutable_clear()->set_name("b");
  Add(request, 14)->mutable_clear()->set_name("$bad");
  Add(request, 15)->mutable_refresh();
  ASSERT_TRUE(stream->Send(request));
  std::vector<Event> e;
  if (!GetParam()) {
    // In memory, answers to one request's immediate commands arrive in one message.
    std::optional<v1::StreamSessionResponse> message = stream->ReadMessage();
    ASSERT_TRUE(message.has_value());
    e.assign(message->events().begin(), message->events().end());
  } else {
    // Durable, they wait for their commits (group commit may split them), in order.
    e = stream->ReadEvents(6);
  }
  ASSERT_EQ(e.size(), 6u);
  EXPECT_EQ(e[0].command_id(), 10u);
  EXPECT_TRUE(e[0].set().acquired());
  EXPECT_EQ(e[1].command_id(), 11u);
  EXPECT_TRUE(e[1].set().acquired());
  EXPECT_GT(e[1].set().grant().fencing_token(), e[0].set().grant().fencing_token());
  EXPECT_EQ(e[2].command_id(), 12u);
  EXPECT_EQ(e[2].test().state().holders(0).session_id(), session.id);
  EXPECT_EQ(e[3].command_id(), 13u);
  EXPECT_EQ(e[3].clear().released_permits(), 1);
  EXPECT_EQ(e[4].command_id(), 14u);
  EXPECT_EQ(e[4].error().code(), static_cast<int>(Code::INVALID_ARGUMENT));
  EXPECT_THAT(e[4].error().message(), HasSubstr("'$'"));
  EXPECT_EQ(e[5].command_id(), 15u);
  EXPECT_TRUE(e[5].has_refresh());
  EXPECT_TRUE(Test("a").set());
  EXPECT_FALSE(Test("b").set());
}

TEST_P(StreamTest, WaitingSetIsAnsweredWhenGranted) {
  TestSession holder = OpenSession(*stub_, "holder");
  MustSet(holder, "x");
  TestSession session;
  auto stream = OpenStream(&session);
  v1::StreamSessionRequest request;
  v1::SessionCommand* set = Add(request, 7);
  set->mutable_set()->set_name("x");
  set->mutable_set()->set_wait_indefinitely(true);
  Add(request, 8)->mutable_ping();
  ASSERT_TRUE(stream->Send(request));
  // The ping is answered while the set waits.
  std::vector<Event> events = stream->ReadEvents(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].command_id(), 8u);
  ASSERT_TRUE(server_.AwaitWaiters("x", 1));

  v1::ClearSemaphoreRequest clear;
  clear.set_session_secret(holder.secret);
  clear.set_name("x");
  v1::ClearSemaphoreResponse cleared;
  ASSERT_TRUE(stub_->ClearSemaphore(Ctx().get(), clear, &cleared).ok());
  events = stream->ReadEvents(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].command_id(), 7u);
  EXPECT_TRUE(events[0].set().acquired());
  EXPECT_EQ(Test("x").holders(0).session_id(), session.id);
}

TEST_P(StreamTest, CancelCommandAnswersTheTargetCancelled) {
  TestSession holder = OpenSession(*stub_, "holder");
  MustSet(holder, "x");
  TestSession session;
  auto stream = OpenStream(&session);
  v1::StreamSessionRequest request;
  v1::SessionCommand* set = Add(request, 5);
  set->mutable_set()->set_name("x");
  set->mutable_set()->set_wait_indefinitely(true);
  ASSERT_TRUE(stream->Send(request));
  ASSERT_TRUE(server_.AwaitWaiters("x", 1));

  v1::StreamSessionRequest cancel;
  Add(cancel, 6)->mutable_cancel()->set_target_command_id(5);
  Add(cancel, 7)->mutable_cancel()->set_target_command_id(5);  // no longer pending
  ASSERT_TRUE(stream->Send(cancel));
  std::vector<Event> events = stream->ReadEvents(3);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].command_id(), 5u);
  EXPECT_EQ(events[0].error().code(), static_cast<int>(Code::CANCELLED));
  EXPECT_EQ(events[1].command_id(), 6u);
  EXPECT_TRUE(events[1].has_ping());
  EXPECT_EQ(events[2].command_id(), 7u);
  EXPECT_EQ(events[2].error().code(), static_cast<int>(Code::NOT_FOUND));
  EXPECT_EQ(Test("x").waiter_count(), 0);
}

TEST_P(StreamTest, RevokedSemaphoreIsPushed) {
  TestSession session;
  auto stream = OpenStream(&session);
  v1::StreamSessionRequest request;
  Add(request, 2)->mutable_set()->set_name("x");
  ASSERT_TRUE(stream->Send(request));
  std::vector<Event> events = stream->ReadEvents(1);
  ASSERT_EQ(events.size(), 1u);
  const uint64_t token = events[0].set().grant().fencing_token();

  ASSERT_TRUE(server_.core().ForceClear("x", "maintenance window").ok());
  events = stream->ReadEvents(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].command_id(), 0u);
  EXPECT_EQ(events[0].revoked().name(), "x");
  EXPECT_THAT(events[0].revoked().reason(), HasSubstr("maintenance window"));
  EXPECT_EQ(events[0].revoked().fencing_token(), token);
  // The session itself lives on.
  Add(request, 3)->mutable_ping();
  request.mutable_commands()->DeleteSubrange(0, 1);
  ASSERT_TRUE(stream->Send(request));
  events = stream->ReadEvents(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0].has_ping());
}

TEST_P(StreamTest, EndedSessionIsPushedThenTheStreamFinishesOk) {
  TestSession session;
  auto stream = OpenStream(&session);
  std::optional<SessionId> id = ParseSessionId(session.id);
  ASSERT_TRUE(id.has_value());
  ASSERT_TRUE(server_.core().EndSession(*id, "operator said so").ok());
  std::vector<Event> rest;
  EXPECT_TRUE(stream->Finish(&rest).ok());
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].command_id(), 0u);
  EXPECT_THAT(rest[0].session_ended().reason(), HasSubstr("operator said so"));
  EXPECT_EQ(rest[0].session_ended().code(), static_cast<int>(Code::UNAUTHENTICATED));
}

TEST_P(StreamTest, SessionEndAnswersPendingCommandsFirst) {
  TestSession holder = OpenSession(*stub_, "holder");
  MustSet(holder, "x");
  TestSession session;
  auto stream = OpenStream(&session);
  v1::StreamSessionRequest request;
  v1::SessionCommand* set = Add(request, 4);
  set->mutable_set()->set_name("x");
  set->mutable_set()->set_wait_indefinitely(true);
  ASSERT_TRUE(stream->Send(request));
  ASSERT_TRUE(server_.AwaitWaiters("x", 1));
  ASSERT_TRUE(server_.core().EndSession(*ParseSessionId(session.id), "bye").ok());
  std::vector<Event> rest;
  EXPECT_TRUE(stream->Finish(&rest).ok());
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].command_id(), 4u);
  EXPECT_EQ(rest[0].error().code(), static_cast<int>(Code::UNAUTHENTICATED));
  EXPECT_TRUE(rest[1].has_session_ended());
  EXPECT_EQ(Test("x").waiter_count(), 0);
}

TEST_P(StreamTest, CloseCommandAnswersThenPushesTheEnd) {
  TestSession session;
  auto stream = OpenStream(&session);
  v1::StreamSessionRequest request;
  Add(request, 2)->mutable_set()->set_name("x");
  Add(request, 3)->mutable_close();
  ASSERT_TRUE(stream->Send(request));
  std::vector<Event> rest;
  EXPECT_TRUE(stream->Finish(&rest).ok());
  ASSERT_EQ(rest.size(), 3u);
  EXPECT_TRUE(rest[0].set().acquired());
  EXPECT_EQ(rest[1].command_id(), 3u);
  EXPECT_EQ(rest[1].close().released_count(), 1);
  EXPECT_EQ(rest[2].command_id(), 0u);
  EXPECT_THAT(rest[2].session_ended().reason(), HasSubstr("closed"));
  EXPECT_FALSE(Test("x").set());
}

TEST_P(StreamTest, CancelledStreamClosesTheSessionAndHandsOnAtOnce) {
  TestSession session;
  auto stream = OpenStream(&session);
  v1::StreamSessionRequest request;
  Add(request, 2)->mutable_set()->set_name("x");
  ASSERT_TRUE(stream->Send(request));
  ASSERT_EQ(stream->ReadEvents(1).size(), 1u);

  TestSession waiter = OpenSession(*stub_, "waiter");
  v1::SetSemaphoreRequest wait = SetRequest(waiter, "x");
  wait.set_wait_indefinitely(true);
  SetCall call(wait);
  Start(*stub_, call);
  ASSERT_TRUE(server_.AwaitWaiters("x", 1));

  stream->Cancel();  // as a crashed client: no close command, no half-close
  ASSERT_TRUE(call.Await());
  ASSERT_TRUE(call.status.ok()) << call.status.error_message();
  EXPECT_TRUE(call.response.acquired());
  v1::RefreshSessionRequest refresh;
  refresh.set_session_secret(session.secret);
  v1::RefreshSessionResponse refreshed;
  EXPECT_THAT(stub_->RefreshSession(Ctx().get(), refresh, &refreshed),
              GrpcIs(Code::UNAUTHENTICATED, HasSubstr("stream ended")));
  EXPECT_THAT(stream->Finish(), GrpcIs(Code::CANCELLED));
}

TEST_P(StreamTest, HalfCloseCancelsWaitsClosesTheSessionAndFinishesOk) {
  TestSession holder = OpenSession(*stub_, "holder");
  MustSet(holder, "busy");
  TestSession session;
  auto stream = OpenStream(&session);
  v1::StreamSessionRequest request;
  Add(request, 2)->mutable_set()->set_name("mine");
  v1::SessionCommand* wait = Add(request, 3);
  wait->mutable_set()->set_name("busy");
  wait->mutable_set()->set_wait_indefinitely(true);
  ASSERT_TRUE(stream->Send(request));
  ASSERT_EQ(stream->ReadEvents(1).size(), 1u);
  ASSERT_TRUE(server_.AwaitWaiters("busy", 1));
  std::vector<Event> rest;
  EXPECT_TRUE(stream->Close(&rest).ok());
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].command_id(), 3u);
  EXPECT_EQ(rest[0].error().code(), static_cast<int>(Code::CANCELLED));
  EXPECT_TRUE(rest[1].has_session_ended());
  EXPECT_THAT(rest[1].session_ended().reason(), HasSubstr("stream ended"));
  EXPECT_FALSE(Test("mine").set());
  EXPECT_EQ(Test("busy").waiter_count(), 0);
}

TEST_P(StreamTest, FirstMessageMustCarryAValidSecret) {
  {
    StreamClient stream(*stub_);
    v1::StreamSessionRequest request;
    Add(request, 1)->mutable_ping();
    stream.Send(request);
    EXPECT_THAT(stream.Finish(),
                GrpcIs(Code::INVALID_ARGUMENT, HasSubstr("session_secret")));
  }
  for (const std::string& secret :
       {std::string("forged"), std::string("0123456789abcdef0123456789abcdef")}) {
    SCOPED_TRACE(secret);
    StreamClient stream(*stub_);
    v1::StreamSessionRequest request;
    request.set_session_secret(secret);
    stream.Send(request);
    EXPECT_THAT(stream.Finish(), GrpcIs(Code::UNAUTHENTICATED));
  }
}

TEST_P(StreamTest, ADifferentSecretLaterEndsTheStream) {
  TestSession session;
  auto stream = OpenStream(&session);
  TestSession other = OpenSession(*stub_, "other");
  v1::StreamSessionRequest request;
  request.set_session_secret(other.secret);
  Add(request, 2)->mutable_ping();
  ASSERT_TRUE(stream->Send(request));
  std::vector<Event> rest;
  EXPECT_THAT(stream->Finish(&rest),
              GrpcIs(Code::INVALID_ARGUMENT, HasSubstr("differs")));
  // The stream's own session ended with it; the other is untouched.
  v1::RefreshSessionRequest refresh;
  v1::RefreshSessionResponse refreshed;
  refresh.set_session_secret(session.secret);
  EXPECT_THAT(stub_->RefreshSession(Ctx().get(), refresh, &refreshed),
              GrpcIs(Code::UNAUTHENTICATED));
  refresh.set_session_secret(other.secret);
  EXPECT_TRUE(stub_->RefreshSession(Ctx().get(), refresh, &refreshed).ok());
}

TEST_P(StreamTest, BadCommandsGetErrorAnswersAndTheStreamGoesOn) {
  TestSession holder = OpenSession(*stub_, "holder");
  MustSet(holder, "held");
  TestSession session;
  auto stream = OpenStream(&session);
  v1::StreamSessionRequest request;
  v1::SessionCommand* wait = Add(request, 9);
  wait->mutable_set()->set_name("held");
  wait->mutable_set()->set_wait_indefinitely(true);
  Add(request, 9)->mutable_ping();  // duplicate of a pending id
  Add(request, 0)->mutable_ping();  // id 0 is reserved
  Add(request, 20);                 // no operation
  Add(request, 21)->mutable_set()->set_name("p");
  request.mutable_commands(4)->mutable_set()->set_permits(0);
  Add(request, 22)->mutable_clear()->set_name("held");  // another session's
  v1::SessionCommand* foreign = Add(request, 23);
  foreign->mutable_clear()->set_name("x");
  foreign->mutable_clear()->set_session_secret(holder.secret);
  Add(request, 25)->mutable_test()->set_name("not UTF-8 \xff");
  Add(request, 24)->mutable_ping();
  ASSERT_TRUE(stream->Send(request));
  std::vector<Event> events = stream->ReadEvents(8);
  ASSERT_EQ(events.size(), 8u);
  const std::vector<std::pair<uint64_t, Code>> want = {
      {9, Code::INVALID_ARGUMENT},   {0, Code::INVALID_ARGUMENT},
      {20, Code::INVALID_ARGUMENT},  {21, Code::INVALID_ARGUMENT},
      {22, Code::PERMISSION_DENIED}, {23, Code::INVALID_ARGUMENT},
      {25, Code::INVALID_ARGUMENT}};
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(events[i].command_id(), want[i].first);
    EXPECT_EQ(events[i].error().code(), static_cast<int>(want[i].second))
        << events[i].error().message();
    EXPECT_FALSE(events[i].error().message().empty());
  }
  EXPECT_THAT(events[6].error().message(), HasSubstr("not valid UTF-8"));
  EXPECT_EQ(events[7].command_id(), 24u);
  EXPECT_TRUE(events[7].has_ping());
  EXPECT_EQ(Test("held").waiter_count(), 1);  // command 9 still waits
}

// Many streams contend for one semaphore while some of them vanish mid-wait: every
// grant is handed on, nothing hangs, and the core stays consistent.
TEST_P(StreamTest, ContendingStreamsThatVanishHandTheSemaphoreOn) {
  constexpr int kStreams = 12;
  constexpr int kRounds = 5;
  std::vector<std::thread> threads;
  std::atomic<int> grants{0};
  for (int t = 0; t < kStreams; ++t) {
    threads.emplace_back([this, t, &grants] {
      TestSession session;
      auto stream = OpenStream(&session, "contender");
      for (int round = 0; round < kRounds; ++round) {
        v1::StreamSessionRequest request;
        v1::SessionCommand* set = Add(request, 100 + round * 2);
        set->mutable_set()->set_name("hot");
        set->mutable_set()->set_wait_indefinitely(true);
        if (!stream->Send(request)) return;
        // Every third stream vanishes while (probably) waiting in its last round.
        if (t % 3 == 0 && round == kRounds - 1) {
          stream->Cancel();
          stream->Finish();
          return;
        }
        std::vector<Event> events = stream->ReadEvents(1);
        if (events.size() != 1 || !events[0].set().acquired()) {
          ADD_FAILURE() << "stream " << t << " round " << round << " got no grant";
          return;
        }
        ++grants;
        v1::StreamSessionRequest clear;
        Add(clear, 101 + round * 2)->mutable_clear()->set_name("hot");
        if (!stream->Send(clear)) return;
        events = stream->ReadEvents(1);
        EXPECT_EQ(events.size(), 1u);
        if (!events.empty()) {
          EXPECT_EQ(events[0].clear().released_permits(), 1);
        }
      }
      EXPECT_TRUE(stream->Close().ok());
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_GE(grants.load(), (kStreams - kStreams / 3) * kRounds);
  // Every stream has ended, so every session has ended.
  const absl::Time give_up = absl::Now() + kRpcDeadline;
  while (server_.core().Counts().sessions != 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ(server_.core().Counts().sessions, 0);
  EXPECT_FALSE(Test("hot").set());
  EXPECT_TRUE(server_.core().CheckInvariants().ok());
}

// Numbered commands (SessionCommand.seq) are applied at most once: one sent again is
// answered with its first answer and changes nothing, until it is acknowledged.
TEST_P(StreamTest, ANumberedCommandSentAgainGetsItsFirstAnswerUntilAcknowledged) {
  TestSession session;
  auto stream = OpenStream(&session);
  v1::StreamSessionRequest first;
  v1::SessionCommand* set = Add(first, 10);
  set->set_seq(1);
  set->mutable_set()->set_name("once");
  v1::SessionCommand* clear = Add(first, 11);
  clear->set_seq(2);
  clear->mutable_clear()->set_name("once");
  ASSERT_TRUE(stream->Send(first));
  std::vector<Event> e = stream->ReadEvents(2);
  ASSERT_EQ(e.size(), 2u);
  ASSERT_TRUE(e[0].set().acquired());
  const uint64_t token = e[0].set().grant().fencing_token();
  EXPECT_EQ(e[1].clear().released_permits(), 1);

  // Both again, as a client does after a break: the first answers, nothing applied.
  v1::StreamSessionRequest again;
  *again.add_commands() = *set;
  again.mutable_commands(0)->set_command_id(20);
  *again.add_commands() = *clear;
  again.mutable_commands(1)->set_command_id(21);
  ASSERT_TRUE(stream->Send(again));
  e = stream->ReadEvents(2);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].command_id(), 20u);
  ASSERT_TRUE(e[0].set().acquired());
  EXPECT_EQ(e[0].set().grant().fencing_token(), token);
  EXPECT_EQ(e[1].command_id(), 21u);
  EXPECT_EQ(e[1].clear().released_permits(), 1);
  EXPECT_FALSE(Test("once").set());

  // Acknowledged, the answers are gone: sent again, the set is refused, not applied.
  v1::StreamSessionRequest acked;
  acked.add_acked_seqs(1);
  acked.add_acked_seqs(2);
  *acked.add_commands() = *set;
  acked.mutable_commands(0)->set_command_id(30);
  ASSERT_TRUE(stream->Send(acked));
  e = stream->ReadEvents(1);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].error().code(), static_cast<int>(Code::FAILED_PRECONDITION));
  EXPECT_THAT(e[0].error().message(), HasSubstr("already answered"));
  EXPECT_FALSE(Test("once").set());

  // A new number is a new command.
  v1::StreamSessionRequest next;
  v1::SessionCommand* later = Add(next, 40);
  later->set_seq(3);
  later->mutable_set()->set_name("once");
  ASSERT_TRUE(stream->Send(next));
  e = stream->ReadEvents(1);
  ASSERT_EQ(e.size(), 1u);
  ASSERT_TRUE(e[0].set().acquired());
  EXPECT_GT(e[0].set().grant().fencing_token(), token);
}

INSTANTIATE_TEST_SUITE_P(Stores, StreamTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Durable" : "InMemory";
                         });

}  // namespace
}  // namespace semaphored::server::testing
