#ifndef SEMAPHORED_TESTS_CLIENT_LOCAL_TEST_UTIL_H_
#define SEMAPHORED_TESTS_CLIENT_LOCAL_TEST_UTIL_H_

// A Client without a server whose '$' semaphores live in a private Core on a
// FakeClock: timed waits end only when the test moves the clock (no sleeps).

#include <memory>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client_access.h"
#include "connection.h"
#include "gtest/gtest.h"
#include "local_core.h"
#include "semaphored/client.h"
#include "common/clock.h"
#include "engine/core.h"
#include "engine/counter_token_source.h"
#include "tests/common/status_matchers.h"

namespace semaphored::internal::testing {

inline constexpr absl::Duration kLocalWait = absl::Seconds(20);

class FakeLocalClient {
 public:
  FakeLocalClient()
      : core_(&clock_, &tokens_, engine::CoreOptions::InProcess()),
        client_(ClientAccess::Make(std::make_shared<Connection>(
            ClientOptions{}, nullptr, LocalCore{&core_, &clock_}))) {}

  Client& client() { return *client_; }
  engine::Core& core() { return core_; }

  std::unique_ptr<Session> Open(const std::string& client_name) {
    SessionOptions options;
    options.client_name = client_name;
    auto session = client_->OpenSession(options);
    EXPECT_TRUE(session.ok()) << session.status();
    return session.ok() ? *std::move(session) : nullptr;
  }

  // Moves the clock and answers the waits whose deadline has passed.
  void Advance(absl::Duration d) {
    clock_.Advance(d);
    core_.Tick();
  }

  // Waits (bounded, without sleeping) until `name` has `count` queued set requests.
  bool AwaitWaiters(const std::string& name, int count) {
    const absl::Time give_up = absl::Now() + kLocalWait;
    while (core_.Test(name).waiter_count != count) {
      if (absl::Now() > give_up) return false;
      std::this_thread::yield();
    }
    return true;
  }
  // As AwaitWaiters, for all waiters of the core (wait-for-clear included).
  bool AwaitAllWaiters(int count) {
    const absl::Time give_up = absl::Now() + kLocalWait;
    while (core_.Counts().waiters != count) {
      if (absl::Now() > give_up) return false;
      std::this_thread::yield();
    }
    return true;
  }

 private:
  FakeClock clock_;
  engine::CounterTokenSource tokens_;
  engine::Core core_;
  std::unique_ptr<Client> client_;
};

}  // namespace semaphored::internal::testing

#endif  // SEMAPHORED_TESTS_CLIENT_LOCAL_TEST_UTIL_H_
