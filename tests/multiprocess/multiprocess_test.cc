// A holder in another process, and a waiter here, on a real server on loopback:
// the holder is killed, closes cleanly, or is frozen past its TTL.

#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "semaphored/client.h"
#include "server/server.h"
#include "tests/common/status_matchers.h"
#include "tests/multiprocess/child_process.h"

namespace semaphored {
namespace {

using ::semaphored::testing::ChildProcess;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr absl::Duration kHolderTtl = absl::Seconds(1);

class MultiProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::semaphored::server::ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.core.min_ttl = absl::Milliseconds(100);
    ASSERT_OK_AND_ASSIGN(server_, ::semaphored::server::Server::Start(options));
    ClientOptions client_options;
    client_options.address = server_->address();
    ASSERT_OK_AND_ASSIGN(client_, Client::Connect(client_options));
    ASSERT_OK_AND_ASSIGN(waiter_, client_->OpenSession());
  }

  // Starts a holder process that holds `name_`; returns once it says so.
  std::unique_ptr<ChildProcess> StartHolder() {
    auto child = std::make_unique<ChildProcess>(std::vector<std::string>{
        MP_CLIENT_PATH, server_->address(), name_,
        std::to_string(absl::ToInt64Milliseconds(kHolderTtl))});
    std::optional<std::string> line = child->ReadLine(absl::Seconds(20));
    EXPECT_THAT(line.value_or("(nothing)"), StartsWith("HELD "));
    EXPECT_TRUE(server_->core().Test(name_).set());
    return child;
  }

  // Waits (in another thread) for `name_`; `act` runs once the wait is queued;
  // returns how long after `act` the grant came.
  absl::Duration TimeToGrant(const std::function<void()>& act) {
    absl::Time granted_at = absl::InfiniteFuture();
    absl::Notification done;
    std::thread waiter([&] {
      AcquireOptions options;
      options.timeout = absl::Seconds(10);
      absl::StatusOr<Permit> permit = waiter_->Acquire(name_, options);
      if (permit.ok() && permit->acquired()) granted_at = absl::Now();
      EXPECT_TRUE(permit.ok()) << permit.status();
      done.Notify();
    });
    const absl::Time limit = absl::Now() + absl::Seconds(10);
    while (server_->core().Test(name_).waiter_count == 0 && absl::Now() < limit) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    const absl::Time start = absl::Now();
    act();
    done.WaitForNotificationWithTimeout(absl::Seconds(15));
    waiter.join();
    return granted_at - start;
  }

  std::string name_ = "mp-" + std::to_string(::getpid());
  std::unique_ptr<::semaphored::server::Server> server_;
  std::unique_ptr<Client> client_;
  std::unique_ptr<Session> waiter_;
};

TEST_F(MultiProcessTest, KilledHolderIsReleasedWithinItsTtl) {
  auto holder = StartHolder();
  absl::Duration elapsed = TimeToGrant([&] { holder->Signal(SIGKILL); });
  std::printf("MEASURED kill -> grant: %.1f ms (holder TTL %s)\n",
              absl::ToDoubleMilliseconds(elapsed), absl::FormatDuration(kHolderTtl).c_str());
  EXPECT_LE(elapsed, kHolderTtl + absl::Milliseconds(500));
}

TEST_F(MultiProcessTest, CleanCloseHandsOnAtOnce) {
  auto holder = StartHolder();
  absl::Duration elapsed = TimeToGrant([&] { holder->WriteLine("close"); });
  std::printf("MEASURED clean close -> grant: %.1f ms\n", absl::ToDoubleMilliseconds(elapsed));
  EXPECT_THAT(holder->ReadLine(absl::Seconds(10)).value_or(""), StartsWith("CLOSED OK"));
  // "At once": far below the TTL, which would be the bound without a close.
  EXPECT_LT(elapsed, kHolderTtl / 2);
}

TEST_F(MultiProcessTest, FrozenHolderLosesItsSessionAndIsToldWhenResumed) {
  auto holder = StartHolder();
  absl::Duration elapsed = TimeToGrant([&] { holder->Signal(SIGSTOP); });
  std::printf("MEASURED freeze -> grant: %.1f ms (holder TTL %s)\n",
              absl::ToDoubleMilliseconds(elapsed), absl::FormatDuration(kHolderTtl).c_str());
  EXPECT_LE(elapsed, kHolderTtl + absl::Milliseconds(500));
  EXPECT_GE(elapsed, kHolderTtl / 3) << "a frozen holder keeps its lease until the TTL";
  holder->Signal(SIGCONT);

  // The resumed holder learns that its session is gone...
  std::string status;
  const absl::Time limit = absl::Now() + absl::Seconds(10);
  while (absl::Now() < limit) {
    holder->WriteLine("status");
    status = holder->ReadLine(absl::Seconds(5)).value_or("");
    if (absl::StartsWith(status, "LOST 1")) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_THAT(status, StartsWith("LOST 1"));
  EXPECT_THAT(status, HasSubstr("expired"));
  // ...and its late clear is refused with the session-expired error.
  holder->WriteLine("clear");
  std::string clear = holder->ReadLine(absl::Seconds(10)).value_or("");
  EXPECT_THAT(clear, StartsWith("CLEAR UNAUTHENTICATED"));
  EXPECT_THAT(clear, HasSubstr("expired"));
}

}  // namespace
}  // namespace semaphored
