#ifndef SEMAPHORED_TESTS_CORE_CORE_TEST_UTIL_H_
#define SEMAPHORED_TESTS_CORE_CORE_TEST_UTIL_H_

// A Core on a FakeClock, with helpers that record asynchronous answers.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "engine/core.h"
#include "engine/counter_token_source.h"
#include "tests/common/status_matchers.h"

namespace semaphored::internal {

// Records the single answer of a set or wait-for-clear request.
template <typename T>
struct Answer {
  std::optional<absl::StatusOr<T>> value;
  bool done() const { return value.has_value(); }
  auto Callback() {
    return [this](absl::StatusOr<T> v) {
      ASSERT_FALSE(value.has_value()) << "answered twice";
      value = std::move(v);
    };
  }
};
using SetAnswer = Answer<engine::SetOutcome>;
using ClearAnswer = Answer<engine::WaitClearOutcome>;

// Records what a session's observer was told.
class RecordingObserver : public engine::SessionObserver {
 public:
  void OnSessionEnded(const absl::Status& reason) override { ended.push_back(reason); }
  void OnRevoked(const std::string& name, uint64_t token, const std::string& reason) override {
    revoked.push_back(name + ": " + reason);
  }
  std::vector<absl::Status> ended;
  std::vector<std::string> revoked;
};

class CoreTestBase : public ::testing::Test {
 protected:
  explicit CoreTestBase(engine::CoreOptions options = {}) : core_(&clock_, &tokens_, options) {}

  void TearDown() override { EXPECT_TRUE(core_.CheckInvariants().ok()) << core_.CheckInvariants(); }

  SessionId Open(std::string client = "client", absl::Duration ttl = absl::Seconds(10)) {
    absl::StatusOr<engine::NewSession> s = core_.CreateSession(std::move(client), ttl);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? s->id : 0;
  }

  engine::SetArgs Args(std::string name, absl::Time deadline = absl::InfinitePast(),
                       int32_t permits = 1, std::optional<int32_t> limit = std::nullopt) {
    engine::SetArgs a;
    a.name = std::move(name);
    a.wait = {absl::InfiniteDuration(), deadline};  // wait until `deadline`
    a.permits = permits;
    a.limit = limit;
    return a;
  }

  // Sets and returns the (immediate) answer; fails the test if it was queued.
  absl::StatusOr<engine::SetOutcome> SetNow(SessionId s, engine::SetArgs args) {
    SetAnswer answer;
    engine::WaiterId id = core_.Set(s, std::move(args), answer.Callback());
    EXPECT_EQ(id, 0u) << "queued unexpectedly";
    EXPECT_TRUE(answer.done());
    return answer.done() ? *answer.value : absl::InternalError("no answer");
  }

  // Queues a waiting set with `answer` recording the outcome; returns the waiter id.
  engine::WaiterId SetWait(SessionId s, const std::string& name, SetAnswer& answer,
                           absl::Duration timeout = absl::InfiniteDuration(),
                           int32_t permits = 1) {
    engine::SetArgs args = Args(name, absl::InfiniteFuture(), permits);
    args.wait.timeout = timeout;
    engine::WaiterId id = core_.Set(s, std::move(args), answer.Callback());
    EXPECT_NE(id, 0u) << "answered at once, expected to wait";
    return id;
  }

  void Advance(absl::Duration d) {
    clock_.Advance(d);
    core_.Tick();
  }

  FakeClock clock_;
  engine::CounterTokenSource tokens_;
  engine::Core core_;
};

}  // namespace semaphored::internal

#endif  // SEMAPHORED_TESTS_CORE_CORE_TEST_UTIL_H_
