// EtcdRegistration against a real etcd: the key is put on a lease and kept; it goes at
// once when the registration is destroyed; when its lease goes behind its back (as
// after a cut longer than the TTL) it is put again on a new one; while etcd does not
// answer, status() says so, and the key comes back when etcd does.

#include "store/etcd_registration.h"

#include <sys/stat.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/status_matchers.h"
#include "tests/etcd/etcd_cluster.h"
#include "tests/store/store_model.h"

namespace semaphored::store {
namespace {

using ::semaphored::store::testing::TempDir;
using ::semaphored::testing::EtcdCluster;
using ::semaphored::testing::IsOk;
using ::semaphored::testing::StatusIs;

constexpr char kKey[] = "/reg/servers/10.0.0.1:50051";
// Bounds every wait for the registration to show a change.
constexpr absl::Duration kSettle = absl::Seconds(15);

class EtcdRegistrationTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(1); }
  void Start(int members) {
    cluster_.reset();
    const std::string dir = absl::StrCat(dir_.path(), "/etcd", members);
    ASSERT_EQ(mkdir(dir.c_str(), 0700), 0) << dir;
    absl::StatusOr<std::unique_ptr<EtcdCluster>> cluster = EtcdCluster::Start(members, dir);
    ASSERT_THAT(cluster.status(), IsOk());
    cluster_ = *std::move(cluster);
    EtcdOptions o;
    o.endpoints = cluster_->endpoints();
    o.call_timeout = absl::Seconds(1);
    absl::StatusOr<std::unique_ptr<EtcdClient>> client = EtcdClient::Create(o);
    ASSERT_THAT(client.status(), IsOk());
    client_ = std::shared_ptr<EtcdClient>(*std::move(client));
  }
  std::unique_ptr<EtcdRegistration> Register() {
    EtcdRegistrationOptions o;
    o.key = kKey;
    o.value = "{\"address\":\"10.0.0.1:50051\"}";
    o.ttl = absl::Seconds(2);
    return std::make_unique<EtcdRegistration>(client_, o);
  }
  // The key's lease, 0 when the key is absent; -1 when etcd does not answer.
  int64_t KeyLease() {
    etcdserverpb::RangeRequest range;
    range.set_key(kKey);
    absl::StatusOr<etcdserverpb::RangeResponse> got = client_->Range(range);
    if (!got.ok()) return -1;
    return got->kvs_size() == 0 ? 0 : got->kvs(0).lease();
  }
  // Waits until `done(KeyLease())` or kSettle passes; the last lease seen.
  template <typename Done>
  int64_t AwaitLease(Done done) {
    const absl::Time deadline = absl::Now() + kSettle;
    int64_t lease = KeyLease();
    while (!done(lease) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(50));
      lease = KeyLease();
    }
    return lease;
  }

  TempDir dir_;
  std::unique_ptr<EtcdCluster> cluster_;
  std::shared_ptr<EtcdClient> client_;
};

TEST_F(EtcdRegistrationTest, TheKeyLivesOnItsLeaseAndGoesAtOnceWhenDestroyed) {
  std::unique_ptr<EtcdRegistration> registration = Register();
  const int64_t lease = AwaitLease([](int64_t l) { return l > 0; });
  ASSERT_GT(lease, 0);
  EXPECT_THAT(registration->status(), IsOk());
  // Kept alive past several TTLs.
  absl::SleepFor(absl::Seconds(5));
  EXPECT_EQ(KeyLease(), lease);
  registration.reset();
  EXPECT_EQ(KeyLease(), 0) << "revoked at once, not left to lapse";
}

TEST_F(EtcdRegistrationTest, ALeaseRevokedBehindItsBackIsReplacedAndTheKeyPutAgain) {
  std::unique_ptr<EtcdRegistration> registration = Register();
  const int64_t lease = AwaitLease([](int64_t l) { return l > 0; });
  ASSERT_GT(lease, 0);
  etcdserverpb::LeaseRevokeRequest revoke;
  revoke.set_id(lease);
  ASSERT_THAT(client_->LeaseRevoke(revoke).status(), IsOk());
  const int64_t again = AwaitLease([&](int64_t l) { return l > 0 && l != lease; });
  EXPECT_GT(again, 0);
  EXPECT_NE(again, lease);
}

// The member the client talks to dies: the keepalives go to another member, and the
// lease lives on (no lapse, no new registration).
TEST_F(EtcdRegistrationTest, KeepalivesFailOverWhenTheirMemberDies) {
  Start(3);
  std::unique_ptr<EtcdRegistration> registration = Register();
  const int64_t lease = AwaitLease([](int64_t l) { return l > 0; });
  ASSERT_GT(lease, 0);
  cluster_->Kill(0);  // the client's first endpoint, which it has used so far
  absl::SleepFor(absl::Seconds(5));  // past two TTLs
  EXPECT_EQ(KeyLease(), lease);
  EXPECT_THAT(registration->status(), IsOk());
}

TEST_F(EtcdRegistrationTest, WhileEtcdIsDownItSaysSoAndRegistersWhenEtcdIsBack) {
  std::unique_ptr<EtcdRegistration> registration = Register();
  ASSERT_GT(AwaitLease([](int64_t l) { return l > 0; }), 0);
  cluster_->Kill(0);
  const absl::Time deadline = absl::Now() + kSettle;
  while (registration->status().ok() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_THAT(registration->status(), StatusIs(absl::StatusCode::kUnavailable));
  // Down past the TTL: the lease lapses at etcd (its clock runs on after the restart).
  absl::SleepFor(absl::Seconds(3));
  ASSERT_THAT(cluster_->Restart(0), IsOk());
  EXPECT_GT(AwaitLease([](int64_t l) { return l > 0; }), 0);
  const absl::Time ok_deadline = absl::Now() + kSettle;
  while (!registration->status().ok() && absl::Now() < ok_deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_THAT(registration->status(), IsOk());
}

}  // namespace
}  // namespace semaphored::store
