// EtcdLeader against a real etcd: one leader at a time; the others see its address; a
// resigned leader's successor takes over at once, a silent one's after its lease; a
// leader whose lease may have lapsed says so by its own clock and its store writes
// nothing more.

#include "store/etcd_leader.h"

#include <atomic>
#include <memory>
#include <random>
#include <string>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/etcd_store.h"
#include "tests/common/status_matchers.h"
#include "tests/etcd/etcd_cluster.h"
#include "tests/store/store_model.h"

namespace semaphored::store {
namespace {

using ::semaphored::store::testing::RandomBatch;
using ::semaphored::store::testing::StoreModel;
using ::semaphored::store::testing::TempDir;
using ::semaphored::testing::EtcdCluster;
using ::semaphored::testing::IsOk;
using ::semaphored::testing::StatusIs;
using ::testing::HasSubstr;

class EtcdLeaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<EtcdCluster>> cluster = EtcdCluster::Start(1, dir_.path());
    ASSERT_THAT(cluster.status(), IsOk());
    cluster_ = *std::move(cluster);
    EtcdOptions o;
    o.endpoints = cluster_->endpoints();
    o.call_timeout = absl::Seconds(2);
    absl::StatusOr<std::unique_ptr<EtcdClient>> client = EtcdClient::Create(o);
    ASSERT_THAT(client.status(), IsOk());
    client_ = std::shared_ptr<EtcdClient>(*std::move(client));
  }
  std::unique_ptr<EtcdLeader> Candidate(const std::string& address, absl::Duration ttl) {
    EtcdLeaderOptions o;
    o.key = "/ha/leader";
    o.value = address;
    o.ttl = ttl;
    return std::make_unique<EtcdLeader>(client_, o);
  }
  // Tries until `candidate` leads or `timeout` passes; how long it took.
  static absl::StatusOr<absl::Duration> LeadWithin(EtcdLeader& candidate,
                                                   absl::Duration timeout) {
    const absl::Time start = absl::Now();
    while (absl::Now() - start < timeout) {
      absl::StatusOr<EtcdLeader::Attempt> attempt = candidate.TryLead();
      if (attempt.ok() && attempt->leading) return absl::Now() - start;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return absl::DeadlineExceededError("did not become the leader");
  }

  TempDir dir_;
  std::unique_ptr<EtcdCluster> cluster_;
  std::shared_ptr<EtcdClient> client_;
};

// A candidate's lease is taken while it waits and is not kept alive then; when it
// wins near the end of that lease, its first keepalive must go at once, not a third of
// the TTL later, or it would lose what it just won.
TEST_F(EtcdLeaderTest, ACandidateThatWinsLateInItsLeaseKeepsTheLead) {
  std::unique_ptr<EtcdLeader> a = Candidate("10.0.0.1:50051", absl::Seconds(5));
  std::unique_ptr<EtcdLeader> b = Candidate("10.0.0.2:50051", absl::Seconds(2));
  std::atomic<bool> lost{false};
  b->SetOnLost([&](const absl::Status&) { lost = true; });
  ASSERT_OK_AND_ASSIGN(EtcdLeader::Attempt first, a->TryLead());
  ASSERT_TRUE(first.leading);
  ASSERT_OK_AND_ASSIGN(EtcdLeader::Attempt waiting, b->TryLead());  // takes its lease now
  ASSERT_FALSE(waiting.leading);
  absl::SleepFor(absl::Milliseconds(1500));  // of its 2 s TTL (1.8 s by its own clock)
  a->Resign();
  ASSERT_OK_AND_ASSIGN(EtcdLeader::Attempt won, b->TryLead());
  ASSERT_TRUE(won.leading);
  absl::SleepFor(absl::Seconds(2));
  EXPECT_TRUE(b->Valid());
  EXPECT_FALSE(lost);
}

TEST_F(EtcdLeaderTest, OneLeadsTheOthersSeeItsAddressAndAResignationHandsOnAtOnce) {
  std::unique_ptr<EtcdLeader> a = Candidate("10.0.0.1:50051", absl::Seconds(5));
  std::unique_ptr<EtcdLeader> b = Candidate("10.0.0.2:50051", absl::Seconds(5));
  ASSERT_OK_AND_ASSIGN(EtcdLeader::Attempt first, a->TryLead());
  EXPECT_TRUE(first.leading);
  EXPECT_EQ(first.guard.key, "/ha/leader");
  EXPECT_GT(first.guard.create_revision, 0);
  EXPECT_TRUE(a->Valid());
  ASSERT_OK_AND_ASSIGN(EtcdLeader::Attempt again, a->TryLead());
  EXPECT_TRUE(again.leading) << "leading twice is still leading";
  EXPECT_EQ(again.guard.create_revision, first.guard.create_revision);

  ASSERT_OK_AND_ASSIGN(EtcdLeader::Attempt other, b->TryLead());
  EXPECT_FALSE(other.leading);
  EXPECT_EQ(other.leader, "10.0.0.1:50051");
  EXPECT_FALSE(b->Valid());

  a->Resign();
  EXPECT_FALSE(a->Valid());
  ASSERT_OK_AND_ASSIGN(absl::Duration took, LeadWithin(*b, absl::Seconds(2)));
  EXPECT_LT(took, absl::Seconds(1)) << "a resignation does not wait out the lease";
  EXPECT_TRUE(b->Valid());
  ASSERT_OK_AND_ASSIGN(EtcdLeader::Attempt seen, Candidate("x:1", absl::Seconds(5))->TryLead());
  EXPECT_EQ(seen.leader, "10.0.0.2:50051");
}

// A leader that stops renewing (as one paused by SIGSTOP or cut off from etcd):
// by its own clock it stops being valid before etcd ends its lease, its loss is
// reported once, a successor leads after the lease, and the old guard writes nothing.
TEST_F(EtcdLeaderTest, ASilentLeaderKnowsItBeforeItsSuccessorLeadsAndItsStoreIsFenced) {
  std::unique_ptr<EtcdLeader> a = Candidate("a:1", absl::Seconds(2));
  std::atomic<int> losses{0};
  absl::Notification lost;
  a->SetOnLost([&](const absl::Status& why) {
    EXPECT_THAT(why, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("lapsed")));
    if (++losses == 1) lost.Notify();
  });
  ASSERT_OK_AND_ASSIGN(EtcdLeader::Attempt led, a->TryLead());
  ASSERT_TRUE(led.leading);
  EtcdStoreOptions so;
  so.etcd.endpoints = cluster_->endpoints();
  so.prefix = "/ha/state/";
  so.commit_timeout = absl::Seconds(2);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EtcdStore> store, EtcdStore::Open(so, client_));
  store->SetGuard(led.guard);
  ASSERT_THAT(store->Load().status(), IsOk());
  StoreModel model;
  std::mt19937_64 rng(1);
  ASSERT_THAT(store->Commit(RandomBatch(model, rng, 10)), IsOk());

  // Kept alive well past its TTL: still valid.
  absl::SleepFor(absl::Seconds(3));
  EXPECT_TRUE(a->Valid());
  EXPECT_EQ(losses.load(), 0);

  a->PauseKeepAlivesForTest();
  const absl::Time paused = absl::Now();
  std::unique_ptr<EtcdLeader> b = Candidate("b:1", absl::Seconds(2));
  ASSERT_TRUE(lost.WaitForNotificationWithTimeout(absl::Seconds(5)));
  const absl::Duration noticed = absl::Now() - paused;
  EXPECT_FALSE(a->Valid());
  ASSERT_OK_AND_ASSIGN(absl::Duration waited, LeadWithin(*b, absl::Seconds(10)));
  const absl::Duration successor = absl::Now() - paused;
  EXPECT_LT(noticed, successor) << "the old leader must know first";
  std::printf("silent leader: knew after %s, successor led after %s (TTL 2s)\n",
              absl::FormatDuration(noticed).c_str(), absl::FormatDuration(successor).c_str());
  (void)waited;
  EXPECT_THAT(store->Commit(RandomBatch(model, rng, 10)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("no longer the leader")));
  EXPECT_EQ(losses.load(), 1);
}

}  // namespace
}  // namespace semaphored::store
