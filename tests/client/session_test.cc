// The session logic over a fake transport: the test plays the server, so every
// answer, push and failure happens exactly when the test says.

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "fake_stub.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "semaphored/semaphored.h"
#include "tests/common/status_matchers.h"

namespace semaphored {
namespace {

using ::semaphored::internal::testing::ClearAnswer;
using ::semaphored::internal::testing::ErrorAnswer;
using ::semaphored::internal::testing::FakeClient;
using ::semaphored::internal::testing::FakeStream;
using ::semaphored::internal::testing::FakeStub;
using ::semaphored::internal::testing::kWait;
using ::semaphored::internal::testing::SetAcquired;
using ::semaphored::internal::testing::SetNotAcquired;
using ::semaphored::testing::IsOk;
using ::semaphored::testing::StatusIs;
using ::testing::HasSubstr;
namespace v1 = ::semaphored::v1;

// Records the session's callbacks.
struct Events {
  absl::Mutex mu;
  int lost = 0;
  absl::Status lost_status;
  int interrupted = 0;
  absl::Status interrupted_status;
  int resumed = 0;
  std::vector<std::pair<std::string, absl::Status>> revoked;
  std::vector<std::pair<std::string, absl::Status>> release_errors;

  SessionOptions Options() {
    SessionOptions options;
    options.client_name = "tester";
    options.on_session_lost = [this](const absl::Status& s) {
      absl::MutexLock lock(&mu);
      ++lost;
      lost_status = s;
    };
    options.on_session_interrupted = [this](const absl::Status& s) {
      absl::MutexLock lock(&mu);
      ++interrupted;
      interrupted_status = s;
    };
    options.on_session_resumed = [this] {
      absl::MutexLock lock(&mu);
      ++resumed;
    };
    options.on_revoked = [this](const std::string& name, const absl::Status& s) {
      absl::MutexLock lock(&mu);
      revoked.emplace_back(name, s);
    };
    return options;
  }
  // Waits (bounded) until `pred` holds.
  bool Await(bool (*pred)(Events*)) {
    absl::MutexLock lock(&mu);
    return mu.AwaitWithTimeout(absl::Condition(pred, this), kWait);
  }
};

class ClientSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stub_ = std::make_shared<FakeStub>();
    client_ = FakeClient(stub_);
    Open(events_.Options());
  }
  void Open(SessionOptions options) {
    auto session = client_->OpenSession(std::move(options));
    ASSERT_THAT(session, IsOk());
    session_ = *std::move(session);
    stream_ = stub_->last_stream();
    ASSERT_NE(stream_, nullptr);
    std::optional<v1::SessionCommand> first = stream_->Next();
    ASSERT_TRUE(first.has_value() && first->has_refresh());  // carries the secret
  }
  // The next command, which must exist.
  v1::SessionCommand Next() {
    std::optional<v1::SessionCommand> command = stream_->Next();
    EXPECT_TRUE(command.has_value()) << "no command sent";
    return command.value_or(v1::SessionCommand());
  }
  void PushSessionEnded(absl::StatusCode code, const std::string& reason) {
    v1::SessionEvent event;
    event.mutable_session_ended()->set_code(static_cast<int>(code));
    event.mutable_session_ended()->set_reason(reason);
    stream_->Answer(event);
  }
  // Closes the session on another thread, the fake not answering the close; `close`:
  // the close command sent (nullopt if none came).
  std::thread StartUnansweredClose(absl::Status* closed,
                                   std::optional<v1::SessionCommand>* close) {
    stream_->set_answer_close(false);
    std::thread t([this, closed] { *closed = session_->Close(); });
    *close = stream_->Next();
    while (close->has_value() && !(*close)->has_close()) *close = stream_->Next();
    return t;
  }
  // Acquires `name` on another thread; the test answers the set command.
  std::pair<std::thread, v1::SessionCommand> StartAcquire(const std::string& name,
                                                          absl::StatusOr<Permit>* out,
                                                          AcquireOptions options = {}) {
    std::thread t([this, name, out, options] { *out = session_->Acquire(name, options); });
    return {std::move(t), Next()};
  }
  Permit AcquireWithToken(const std::string& name, uint64_t token) {
    absl::StatusOr<Permit> permit;
    auto [t, command] = StartAcquire(name, &permit);
    EXPECT_TRUE(command.has_set());
    stream_->Answer(SetAcquired(command.command_id(), token));
    t.join();
    EXPECT_THAT(permit, IsOk());
    return permit.ok() ? *std::move(permit) : Permit();
  }

  Events events_;
  std::shared_ptr<FakeStub> stub_;
  std::unique_ptr<Client> client_;
  std::unique_ptr<Session> session_;
  std::shared_ptr<FakeStream> stream_;
};

TEST_F(ClientSessionTest, OpeningCreatesTheSessionAndSendsTheSecretFirst) {
  EXPECT_EQ(stub_->create_calls(), 1);
  EXPECT_EQ(stub_->last_client_name(), "tester");
  EXPECT_EQ(stream_->secret(), "secret-1");
  EXPECT_EQ(session_->id(), "00000000000000a1");
  EXPECT_EQ(session_->ttl(), absl::Hours(1));
  EXPECT_THAT(session_->status(), IsOk());
}

TEST_F(ClientSessionTest, AcquireSendsASetAndReturnsThePermitThatReleasesOnDestruction) {
  AcquireOptions options;
  options.limit = 4;
  options.permits = 2;
  options.timeout = absl::Seconds(3);
  absl::StatusOr<Permit> permit;
  auto [t, command] = StartAcquire("jobs", &permit, options);
  ASSERT_TRUE(command.has_set());
  EXPECT_EQ(command.set().name(), "jobs");
  EXPECT_EQ(command.set().limit(), 4);
  EXPECT_EQ(command.set().permits(), 2);
  EXPECT_EQ(command.set().timeout().seconds(), 3);
  EXPECT_FALSE(command.set().wait_indefinitely());
  stream_->Answer(SetAcquired(command.command_id(), 42, false, 2));
  t.join();
  ASSERT_THAT(permit, IsOk());
  EXPECT_TRUE(permit->held());
  EXPECT_EQ(permit->fencing_token(), 42u);
  EXPECT_EQ(permit->permits(), 2);
  EXPECT_EQ(permit->since(), absl::FromUnixSeconds(1'700'000'000));

  *permit = Permit();  // drops the grant: a clear goes out without waiting
  v1::SessionCommand clear = Next();
  ASSERT_TRUE(clear.has_clear());
  EXPECT_EQ(clear.clear().name(), "jobs");
}

TEST_F(ClientSessionTest, ATryThatFindsItSetIsAnAnswerNotAnError) {
  absl::StatusOr<Permit> permit;
  auto [t, command] = StartAcquire("busy", &permit);
  stream_->Answer(SetNotAcquired(command.command_id(), "busy", "00000000000000ff"));
  t.join();
  ASSERT_THAT(permit, IsOk());
  EXPECT_FALSE(permit->acquired());
  ASSERT_EQ(permit->state().holders.size(), 1u);
  EXPECT_EQ(permit->state().holders[0].session_id, "00000000000000ff");
  EXPECT_THAT(permit->status(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                         HasSubstr("00000000000000ff")));
}

TEST_F(ClientSessionTest, WaitIndefinitelyIsSentAsSuch) {
  AcquireOptions options;
  options.timeout = absl::InfiniteDuration();
  absl::StatusOr<Permit> permit;
  auto [t, command] = StartAcquire("forever", &permit, options);
  EXPECT_TRUE(command.set().wait_indefinitely());
  stream_->Answer(SetAcquired(command.command_id(), 1));
  t.join();
}

TEST_F(ClientSessionTest, ReacquiringSharesTheGrantUntilTheLastPermitGoes) {
  auto first = std::make_unique<Permit>(AcquireWithToken("shared", 7));
  absl::StatusOr<Permit> second;
  auto [t, command] = StartAcquire("shared", &second);
  stream_->Answer(SetAcquired(command.command_id(), 7, /*already_held=*/true));
  t.join();
  ASSERT_THAT(second, IsOk());
  EXPECT_TRUE(second->already_held());
  first.reset();  // no clear: the other Permit shares the grant
  EXPECT_TRUE(second->held());
  EXPECT_FALSE(stream_->Next(absl::ZeroDuration()).has_value());
  *second = Permit();
  EXPECT_TRUE(Next().has_clear());
}

TEST_F(ClientSessionTest, SessionEndedPushLosesTheSession) {
  Permit held = AcquireWithToken("held", 5);
  absl::StatusOr<Permit> waiting;
  AcquireOptions options;
  options.timeout = absl::InfiniteDuration();
  auto [t, command] = StartAcquire("waiting", &waiting, options);
  PushSessionEnded(absl::StatusCode::kUnauthenticated, "session expired (no keepalive)");
  t.join();
  EXPECT_TRUE(IsSessionLost(waiting.status()));
  EXPECT_THAT(waiting, StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("expired")));
  EXPECT_FALSE(held.held());
  EXPECT_TRUE(IsSessionLost(held.status()));
  ASSERT_TRUE(events_.Await(+[](Events* e) { return e->lost > 0; }));
  EXPECT_TRUE(IsSessionLost(session_->status()));
  EXPECT_TRUE(IsSessionLost(session_->Acquire("later").status()));
  EXPECT_TRUE(IsSessionLost(session_->Clear("held")));
  EXPECT_TRUE(IsSessionLost(session_->Test("held").status()));
  EXPECT_TRUE(IsSessionLost(session_->Close()));
  absl::MutexLock lock(&events_.mu);
  EXPECT_EQ(events_.lost, 1);
  EXPECT_THAT(events_.lost_status, StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST_F(ClientSessionTest, AnUnauthenticatedAnswerLosesTheSession) {
  absl::StatusOr<Permit> permit;
  auto [t, command] = StartAcquire("x", &permit);
  stream_->Answer(ErrorAnswer(command.command_id(), absl::StatusCode::kUnauthenticated,
                              "session 00000000000000a1 has expired"));
  t.join();
  EXPECT_TRUE(IsSessionLost(permit.status()));
  ASSERT_TRUE(events_.Await(+[](Events* e) { return e->lost > 0; }));
  EXPECT_TRUE(IsSessionLost(session_->Acquire("y").status()));
}

TEST_F(ClientSessionTest, AStreamThatBreaksIsResumedAndItsUnansweredCommandsSentAgain) {
  Permit held = AcquireWithToken("held", 5);
  absl::StatusOr<Permit> waiting;
  AcquireOptions options;
  options.timeout = absl::InfiniteDuration();
  auto [t, set] = StartAcquire("waiting", &waiting, options);
  ASSERT_TRUE(set.has_set());
  stream_->End(absl::UnavailableError("connection reset"));

  // A new stream with the same secret: a refresh first (whose answer resumes the
  // session), then the unanswered set with its command id and seq.
  std::shared_ptr<FakeStream> second = stub_->AwaitStream(2);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->secret(), stream_->secret());
  std::optional<v1::SessionCommand> refresh = second->Next();
  ASSERT_TRUE(refresh.has_value() && refresh->has_refresh());
  std::optional<v1::SessionCommand> again = second->Next();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->SerializeAsString(), set.SerializeAsString());
  ASSERT_TRUE(events_.Await(+[](Events* e) { return e->resumed > 0; }));
  EXPECT_THAT(session_->status(), IsOk());
  EXPECT_TRUE(held.held());  // permits stay held across the break
  EXPECT_EQ(held.fencing_token(), 5u);

  second->Answer(SetAcquired(set.command_id(), 9));
  t.join();
  ASSERT_THAT(waiting, IsOk());
  EXPECT_EQ(waiting->fencing_token(), 9u);
  EXPECT_THAT(second->acked(), ::testing::Contains(set.seq()));
  absl::MutexLock lock(&events_.mu);
  EXPECT_EQ(events_.interrupted, 1);
  EXPECT_THAT(events_.interrupted_status,
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("connection reset")));
  EXPECT_EQ(events_.resumed, 1);
  EXPECT_EQ(events_.lost, 0);
}

TEST_F(ClientSessionTest, SetsClearsAndWaitsAreNumberedInOrderAndAcknowledged) {
  Permit a = AcquireWithToken("a", 1);
  Permit b = AcquireWithToken("b", 2);
  std::vector<v1::SessionCommand> sent = stream_->sent();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0].seq(), 0u);  // the refresh: not numbered
  EXPECT_EQ(sent[1].seq(), 1u);
  EXPECT_EQ(sent[2].seq(), 2u);
  std::thread test([this] { session_->Test("a").IgnoreError(); });
  v1::SessionCommand command = Next();
  EXPECT_TRUE(command.has_test());
  EXPECT_EQ(command.seq(), 0u);  // a test is not numbered
  v1::SessionEvent answer;
  answer.set_command_id(command.command_id());
  answer.mutable_test();
  stream_->Answer(answer);
  test.join();
  EXPECT_THAT(stream_->acked(), ::testing::ElementsAre(1u, 2u));
}

TEST_F(ClientSessionTest, AnUnavailableAnswerWaitsForTheResumeInsteadOfFailingTheCall) {
  absl::StatusOr<Permit> permit;
  AcquireOptions options;
  options.timeout = absl::InfiniteDuration();
  auto [t, set] = StartAcquire("x", &permit, options);
  // A server draining to restart with its state answers UNAVAILABLE, then goes.
  stream_->Answer(ErrorAnswer(set.command_id(), absl::StatusCode::kUnavailable,
                              "server is restarting"));
  stream_->End(absl::UnavailableError("server shutting down"));
  std::shared_ptr<FakeStream> second = stub_->AwaitStream(2);
  ASSERT_NE(second, nullptr);
  second->Next();  // the refresh
  std::optional<v1::SessionCommand> again = second->Next();
  ASSERT_TRUE(again.has_value() && again->has_set());
  EXPECT_EQ(again->seq(), set.seq());
  second->Answer(SetAcquired(set.command_id(), 3));
  t.join();
  ASSERT_THAT(permit, IsOk());
  EXPECT_EQ(permit->fencing_token(), 3u);
}

TEST_F(ClientSessionTest, AResumeTheServerRefusesLosesTheSession) {
  Permit held = AcquireWithToken("held", 5);
  stub_->set_refresh_answer(absl::UnauthenticatedError("unknown session 00000000000000a1"));
  stream_->End(absl::UnavailableError("connection reset"));
  ASSERT_TRUE(events_.Await(+[](Events* e) { return e->lost > 0; }));
  EXPECT_THAT(session_->status(),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("unknown session")));
  EXPECT_TRUE(IsSessionLost(session_->status()));
  EXPECT_FALSE(held.held());
  absl::MutexLock lock(&events_.mu);
  EXPECT_EQ(events_.interrupted, 1);
  EXPECT_EQ(events_.resumed, 0);
}

TEST_F(ClientSessionTest, NoServerForAWholeTtlLosesTheSession) {
  stub_->set_ttl_seconds(1);
  Open(events_.Options());
  Permit held = AcquireWithToken("held", 5);
  stub_->set_stream_failure(absl::UnavailableError("connection refused"));
  const size_t before = stub_->stream_count();
  const absl::Time broke = absl::Now();
  stream_->End(absl::UnavailableError("connection reset"));
  ASSERT_TRUE(events_.Await(+[](Events* e) { return e->lost > 0; }));
  EXPECT_GE(absl::Now() - broke, absl::Milliseconds(900));  // not before the TTL
  EXPECT_GT(stub_->stream_count(), before + 1);  // it kept trying meanwhile
  EXPECT_THAT(session_->status(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("presumed expired")));
  EXPECT_FALSE(held.held());
}

TEST_F(ClientSessionTest, LocalSemaphoresSurviveTheLossOfTheServerSession) {
  ASSERT_OK_AND_ASSIGN(Permit local, session_->Acquire("$survives"));
  stub_->set_refresh_answer(absl::UnauthenticatedError("unknown session"));
  stream_->End(absl::UnavailableError("connection reset"));
  ASSERT_TRUE(events_.Await(+[](Events* e) { return e->lost > 0; }));
  EXPECT_TRUE(local.held());
  ASSERT_OK_AND_ASSIGN(SemaphoreInfo info, session_->Test("$survives"));
  EXPECT_TRUE(info.set);
  EXPECT_THAT(local.Release(), IsOk());
}

TEST_F(ClientSessionTest, RevokedPushEndsThePermitAndCallsOnRevoked) {
  Permit held = AcquireWithToken("revoked", 9);
  v1::SessionEvent event;
  event.mutable_revoked()->set_name("revoked");
  event.mutable_revoked()->set_reason("operator: stuck job");
  event.mutable_revoked()->set_fencing_token(9);
  stream_->Answer(event);
  EXPECT_FALSE(held.held());
  EXPECT_THAT(held.status(), StatusIs(absl::StatusCode::kAborted, HasSubstr("stuck job")));
  ASSERT_TRUE(events_.Await(+[](Events* e) { return !e->revoked.empty(); }));
  {
    absl::MutexLock lock(&events_.mu);
    EXPECT_EQ(events_.revoked[0].first, "revoked");
  }
  EXPECT_THAT(session_->status(), IsOk());  // the session goes on
  held = Permit();  // nothing to release any more
  EXPECT_FALSE(stream_->Next(absl::ZeroDuration()).has_value());
}

TEST_F(ClientSessionTest, CancellingAWaitSendsACancelCommand) {
  auto cancel = std::make_shared<CancelToken>();
  AcquireOptions options;
  options.timeout = absl::InfiniteDuration();
  options.cancel = cancel;
  absl::StatusOr<Permit> permit;
  auto [t, command] = StartAcquire("cancel-me", &permit, options);
  cancel->Cancel();
  v1::SessionCommand cancel_command = Next();
  ASSERT_TRUE(cancel_command.has_cancel());
  EXPECT_EQ(cancel_command.cancel().target_command_id(), command.command_id());
  EXPECT_NE(cancel_command.command_id(), command.command_id());
  stream_->Answer(ErrorAnswer(command.command_id(), absl::StatusCode::kCancelled,
                              "cancelled by the client"));
  t.join();
  EXPECT_THAT(permit, StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(session_->status(), IsOk());
}

// The server may never read a cancel sent just before the stream broke (a draining
// server keeps the wait for the resume): the resume sends it again after the target.
TEST_F(ClientSessionTest, ACancelIsSentAgainAfterItsTargetWhenTheStreamBreaks) {
  auto cancel = std::make_shared<CancelToken>();
  AcquireOptions options;
  options.timeout = absl::InfiniteDuration();
  options.cancel = cancel;
  absl::StatusOr<Permit> permit;
  auto [t, set] = StartAcquire("cancel-me", &permit, options);
  cancel->Cancel();
  ASSERT_TRUE(Next().has_cancel());
  stream_->End(absl::UnavailableError("server shutting down"));

  std::shared_ptr<FakeStream> second = stub_->AwaitStream(2);
  ASSERT_NE(second, nullptr);
  std::optional<v1::SessionCommand> refresh = second->Next();
  ASSERT_TRUE(refresh.has_value() && refresh->has_refresh());
  std::optional<v1::SessionCommand> again = second->Next();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->SerializeAsString(), set.SerializeAsString());
  std::optional<v1::SessionCommand> cancel_again = second->Next();
  ASSERT_TRUE(cancel_again.has_value() && cancel_again->has_cancel());
  EXPECT_EQ(cancel_again->cancel().target_command_id(), set.command_id());
  second->Answer(ErrorAnswer(set.command_id(), absl::StatusCode::kCancelled,
                             "cancelled by the client"));
  t.join();
  EXPECT_THAT(permit, StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(session_->status(), IsOk());
}

TEST_F(ClientSessionTest, ClearAndTestAndWaitClearUseTheStream) {
  std::thread clear_thread([&] { EXPECT_THAT(session_->Clear("c"), IsOk()); });
  v1::SessionCommand clear = Next();
  ASSERT_TRUE(clear.has_clear());
  stream_->Answer(ClearAnswer(clear.command_id()));
  clear_thread.join();

  std::thread test_thread([&] {
    auto info = session_->Test("t");
    ASSERT_THAT(info, IsOk());
    EXPECT_TRUE(info->set);
    EXPECT_EQ(info->waiter_count, 2);
  });
  v1::SessionCommand test = Next();
  ASSERT_TRUE(test.has_test());
  v1::SessionEvent answer;
  answer.set_command_id(test.command_id());
  answer.mutable_test()->mutable_state()->set_set(true);
  answer.mutable_test()->mutable_state()->set_waiter_count(2);
  stream_->Answer(answer);
  test_thread.join();

  std::thread wait_thread([&] {
    absl::StatusOr<bool> clear = session_->WaitClear("w", absl::Milliseconds(1500));
    ASSERT_THAT(clear, IsOk());
    EXPECT_TRUE(*clear);
  });
  v1::SessionCommand wait = Next();
  ASSERT_TRUE(wait.has_wait_clear());
  EXPECT_EQ(wait.wait_clear().timeout().seconds(), 1);
  EXPECT_EQ(wait.wait_clear().timeout().nanos(), 500'000'000);
  v1::SessionEvent waited;
  waited.set_command_id(wait.command_id());
  waited.mutable_wait_clear()->set_clear(true);
  stream_->Answer(waited);
  wait_thread.join();
}

TEST_F(ClientSessionTest, ABackgroundReleaseErrorIsReturnedByClose) {
  {
    Permit held = AcquireWithToken("fails", 3);
  }
  v1::SessionCommand clear = Next();
  ASSERT_TRUE(clear.has_clear());
  stream_->Answer(ErrorAnswer(clear.command_id(), absl::StatusCode::kInternal, "disk on fire"));
  EXPECT_THAT(session_->Close(),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("disk on fire")));
}

TEST_F(ClientSessionTest, ABackgroundReleaseErrorGoesToItsCallback) {
  absl::Notification reported;
  std::string reported_name;
  SessionOptions options = events_.Options();
  options.on_release_error = [&](const std::string& name, const absl::Status& s) {
    reported_name = name;
    reported.Notify();
  };
  Open(std::move(options));
  {
    Permit held = AcquireWithToken("fails", 3);
  }
  v1::SessionCommand clear = Next();
  stream_->Answer(ErrorAnswer(clear.command_id(), absl::StatusCode::kInternal, "oops"));
  ASSERT_TRUE(reported.WaitForNotificationWithTimeout(kWait));
  EXPECT_EQ(reported_name, "fails");
  EXPECT_THAT(session_->Close(), IsOk());
}

TEST_F(ClientSessionTest, CloseSendsCloseAndEndsEverything) {
  Permit held = AcquireWithToken("held", 5);
  EXPECT_THAT(session_->Close(), IsOk());
  bool saw_close = false;
  for (const auto& command : stream_->sent()) saw_close |= command.has_close();
  EXPECT_TRUE(saw_close);
  EXPECT_TRUE(stream_->finished());
  EXPECT_FALSE(held.held());
  EXPECT_THAT(held.status(), StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("closed")));
  EXPECT_THAT(session_->Acquire("after"), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_FALSE(IsSessionLost(session_->status()));
  absl::MutexLock lock(&events_.mu);
  EXPECT_EQ(events_.lost, 0);  // closing is not losing
}

// A server draining to restart refuses a close (UNAVAILABLE: it could not record it);
// the close is sent again on the resumed stream, and Close() returns its answer.
TEST_F(ClientSessionTest, ACloseRefusedByARestartingServerIsSentAgainAfterTheResume) {
  absl::Status closed = absl::UnknownError("not returned");
  std::optional<v1::SessionCommand> close;
  std::thread t = StartUnansweredClose(&closed, &close);
  ASSERT_TRUE(close.has_value());
  stream_->Answer(ErrorAnswer(close->command_id(), absl::StatusCode::kUnavailable,
                              "server is restarting with its state"));
  stream_->End(absl::UnavailableError("server shutting down"));

  std::shared_ptr<FakeStream> second = stub_->AwaitStream(2);
  ASSERT_NE(second, nullptr);
  std::optional<v1::SessionCommand> refresh = second->Next();
  ASSERT_TRUE(refresh.has_value() && refresh->has_refresh());
  std::optional<v1::SessionCommand> again = second->Next();
  ASSERT_TRUE(again.has_value() && again->has_close());
  EXPECT_EQ(again->command_id(), close->command_id());
  t.join();  // the second stream answers the close
  EXPECT_THAT(closed, IsOk());
  absl::MutexLock lock(&events_.mu);
  EXPECT_EQ(events_.lost, 0);
}

// The server applied the close, then restarted before its answer left: the resumed
// stream is refused (the session is unknown), and the close has done what it asked.
TEST_F(ClientSessionTest, ACloseAppliedBeforeARestartEndsWhenTheResumeFindsNoSession) {
  absl::Status closed = absl::UnknownError("not returned");
  std::optional<v1::SessionCommand> close;
  std::thread t = StartUnansweredClose(&closed, &close);
  ASSERT_TRUE(close.has_value());
  const absl::Time start = absl::Now();
  stub_->set_stream_failure(absl::UnauthenticatedError("unknown session"));
  stream_->End(absl::UnavailableError("connection reset"));
  t.join();
  EXPECT_THAT(closed, IsOk());
  EXPECT_LT(absl::Now() - start, ClientOptions().call_timeout / 2);  // no timeout
  EXPECT_GE(stub_->stream_count(), 2u);
  absl::MutexLock lock(&events_.mu);
  EXPECT_EQ(events_.lost, 0);
}

// A close asked while the stream was down, never sent, finds the session gone: that is
// no success, and it says so.
TEST_F(ClientSessionTest, ACloseNeverSentReportsASessionTheServerNoLongerKnows) {
  stub_->set_stream_failure(absl::UnavailableError("connection refused"));
  stream_->End(absl::UnavailableError("connection reset"));
  ASSERT_TRUE(events_.Await(+[](Events* e) { return e->interrupted > 0; }));
  absl::Status closed = absl::UnknownError("not returned");
  std::thread t([&] { closed = session_->Close(); });
  absl::SleepFor(absl::Milliseconds(20));  // the close waits for a stream
  stub_->set_stream_failure(absl::UnauthenticatedError("unknown session"));
  t.join();
  EXPECT_TRUE(IsSessionLost(closed)) << closed;
  EXPECT_THAT(closed, StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("unknown session")));
}

TEST(ClientSessionCloseTest, CloseGivesUpOnAServerThatDoesNotAnswer) {
  auto stub = std::make_shared<FakeStub>();
  ClientOptions options;
  options.call_timeout = absl::Milliseconds(200);
  auto client = FakeClient(stub, options);
  ASSERT_OK_AND_ASSIGN(auto session, client->OpenSession());
  auto stream = stub->last_stream();
  stream->set_answer_close(false);
  const absl::Time start = absl::Now();
  EXPECT_THAT(session->Close(),
              StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("no answer")));
  EXPECT_LT(absl::Now() - start, kWait);
  EXPECT_TRUE(stream->WaitClosed(absl::ZeroDuration()));  // cut (cancelled) instead
  EXPECT_THAT(session->Acquire("after"), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(ClientSessionTest, OpenSessionFailsWhenTheStreamRefusesTheSession) {
  stub_->set_refresh_answer(absl::UnauthenticatedError("unknown session"));
  absl::StatusOr<std::unique_ptr<Session>> refused = client_->OpenSession();
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kUnauthenticated, "unknown session"));
  EXPECT_FALSE(IsSessionLost(refused.status()));  // it was never the caller's
}

TEST_F(ClientSessionTest, ACallbackMayCloseItsOwnSession) {
  absl::Notification closed;
  absl::Status close_status;
  SessionOptions options;
  options.on_session_lost = [&](const absl::Status&) {
    close_status = session_->Close();  // on the library's callback thread
    closed.Notify();
  };
  Open(std::move(options));
  PushSessionEnded(absl::StatusCode::kUnauthenticated, "session expired");
  ASSERT_TRUE(closed.WaitForNotificationWithTimeout(kWait));
  EXPECT_TRUE(IsSessionLost(close_status));
}

TEST_F(ClientSessionTest, OpenSessionIsNotRetried) {
  stub_->set_create_status(absl::UnavailableError("server down"));
  EXPECT_THAT(client_->OpenSession(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(stub_->create_calls(), 2);  // SetUp's, and this one once
}

TEST_F(ClientSessionTest, TestAndPingAreRetriedOnUnavailableOnly) {
  stub_->push_test_answer(absl::UnavailableError("blip"));
  stub_->push_test_answer(absl::UnavailableError("blip"));
  EXPECT_THAT(client_->Test("x"), IsOk());
  EXPECT_EQ(stub_->test_calls(), 3);

  stub_->push_test_answer(absl::UnavailableError("1"));
  stub_->push_test_answer(absl::UnavailableError("2"));
  stub_->push_test_answer(absl::UnavailableError("3"));
  EXPECT_THAT(client_->Test("x"), StatusIs(absl::StatusCode::kUnavailable, "3"));
  EXPECT_EQ(stub_->test_calls(), 6);  // three attempts at most

  stub_->push_test_answer(absl::InternalError("bug"));
  EXPECT_THAT(client_->Test("x"), StatusIs(absl::StatusCode::kInternal));
  EXPECT_EQ(stub_->test_calls(), 7);  // never retried

  stub_->set_ping_status(absl::UnavailableError("down"));
  EXPECT_THAT(client_->Ping(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(stub_->ping_calls(), 3);
}

}  // namespace
}  // namespace semaphored
