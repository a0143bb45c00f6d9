// The gate of a session's user callbacks: they run in the background, in order,
// until Close(); Close() waits for a running one, unless called from it.

#include <atomic>
#include <memory>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "callback_gate.h"
#include "executor.h"
#include "gtest/gtest.h"

namespace semaphored::internal {
namespace {

constexpr absl::Duration kWait = absl::Seconds(20);

TEST(ClientCallbackGateTest, RunsPostedCallbacksInOrderOffTheCallingThread) {
  Executor executor;
  auto gate = std::make_shared<CallbackGate>();
  std::atomic<int> next{0};
  std::atomic<bool> in_order{true};
  std::thread::id ran_on;
  absl::Notification done;
  for (int i = 0; i < 3; ++i) {
    gate->Post(executor, [&, i] {
      if (next.fetch_add(1) != i) in_order = false;
    });
  }
  gate->Post(executor, [&] {
    ran_on = std::this_thread::get_id();
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kWait));
  EXPECT_EQ(next.load(), 3);
  EXPECT_TRUE(in_order.load());
  EXPECT_NE(ran_on, std::this_thread::get_id());
}

TEST(ClientCallbackGateTest, CloseDropsCallbacksNotYetStarted) {
  Executor executor;
  auto gate = std::make_shared<CallbackGate>();
  // The executor's thread waits behind this gate until the gate has closed.
  absl::Notification unblock;
  executor.Post([&] { unblock.WaitForNotificationWithTimeout(kWait); });
  std::atomic<int> runs{0};
  gate->Post(executor, [&] { runs.fetch_add(1); });
  gate->Close();  // nothing runs: returns at once
  unblock.Notify();
  absl::Notification drained;
  executor.Post([&] { drained.Notify(); });
  ASSERT_TRUE(drained.WaitForNotificationWithTimeout(kWait));
  EXPECT_EQ(runs.load(), 0);
}

TEST(ClientCallbackGateTest, CloseReturnsOnlyAfterTheRunningCallbackHas) {
  Executor executor;
  auto gate = std::make_shared<CallbackGate>();
  absl::Notification started, release;
  std::atomic<bool> returned{false};
  gate->Post(executor, [&] {
    started.Notify();
    release.WaitForNotificationWithTimeout(kWait);
    returned = true;
  });
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kWait));
  std::atomic<bool> returned_when_closed{false};
  std::thread closer([&] {
    gate->Close();
    returned_when_closed = returned.load();
  });
  release.Notify();
  closer.join();
  EXPECT_TRUE(returned_when_closed.load());
}

TEST(ClientCallbackGateTest, ACallbackMayCloseItsOwnGate) {
  Executor executor;
  auto gate = std::make_shared<CallbackGate>();
  absl::Notification closed;
  gate->Post(executor, [&] {
    gate->Close();  // does not wait for itself
    closed.Notify();
  });
  EXPECT_TRUE(closed.WaitForNotificationWithTimeout(kWait));
}

}  // namespace
}  // namespace semaphored::internal
