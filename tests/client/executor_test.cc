// The library's background executor: order, timing, cancellation, self-destruction.

#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "executor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace semaphored::internal {
namespace {

constexpr absl::Duration kWait = absl::Seconds(20);

TEST(ClientExecutorTest, RunsPostedTasksInOrder) {
  Executor executor;
  absl::Mutex mu;
  std::vector<int> order;
  absl::Notification done;
  for (int i = 0; i < 5; ++i) {
    executor.Post([&, i] {
      absl::MutexLock lock(&mu);
      order.push_back(i);
    });
  }
  executor.Post([&] { done.Notify(); });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kWait));
  absl::MutexLock lock(&mu);
  EXPECT_THAT(order, ::testing::ElementsAre(0, 1, 2, 3, 4));
}

TEST(ClientExecutorTest, RunsTimedTasksByTheirTimeAndSkipsCancelledOnes) {
  Executor executor;
  absl::Mutex mu;
  std::vector<int> order;
  absl::Notification done;
  // The executor's thread waits behind this gate until every task is scheduled
  // and one cancelled, so a slow machine (or TSan) cannot run the cancelled task
  // before Cancel is called.
  absl::Notification gate;
  executor.Post([&] { gate.WaitForNotification(); });
  const absl::Time now = absl::Now();
  executor.Schedule(now + absl::Milliseconds(30), [&] {
    absl::MutexLock lock(&mu);
    order.push_back(2);
    done.Notify();
  });
  const uint64_t cancelled = executor.Schedule(now + absl::Milliseconds(10), [&] {
    absl::MutexLock lock(&mu);
    order.push_back(99);
  });
  executor.Schedule(now, [&] {
    absl::MutexLock lock(&mu);
    order.push_back(1);
  });
  executor.Cancel(cancelled);
  gate.Notify();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kWait));
  EXPECT_GE(absl::Now() - now, absl::Milliseconds(30));
  absl::MutexLock lock(&mu);
  EXPECT_THAT(order, ::testing::ElementsAre(1, 2));
}

TEST(ClientExecutorTest, ATaskMayDestroyItsOwnExecutor) {
  auto executor = std::make_unique<Executor>();
  absl::Notification done;
  Executor* raw = executor.get();
  raw->Post([&executor, &done] {
    executor.reset();  // joins nothing: the thread exits after this task
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kWait));
  EXPECT_EQ(executor, nullptr);
}

TEST(ClientExecutorTest, DestructionDropsTasksNotDue) {
  absl::Notification ran;
  {
    Executor executor;
    executor.Schedule(absl::Now() + absl::Hours(1), [&] { ran.Notify(); });
  }  // returns at once
  EXPECT_FALSE(ran.HasBeenNotified());
}

}  // namespace
}  // namespace semaphored::internal
