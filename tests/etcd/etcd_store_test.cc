// EtcdStore against a real etcd (Debian's etcd-server on loopback): whatever was
// committed loads back, across reopens, for batches in one transaction and batches too
// large for one (written as intents); a batch cut anywhere is all-or-nothing; a
// deposed leader's writes are refused; an unreachable etcd is a clear error; a member
// killed in a 3-member cluster loses nothing.

#include "store/etcd_store.h"

#include <memory>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/status_matchers.h"
#include "tests/etcd/etcd_cluster.h"
#include "tests/store/store_model.h"

namespace semaphored::store {
namespace {

using ::semaphored::store::testing::Dump;
using ::semaphored::store::testing::RandomBatch;
using ::semaphored::store::testing::ReplaceEverything;
using ::semaphored::store::testing::StoreModel;
using ::semaphored::store::testing::TempDir;
using ::semaphored::testing::EtcdCluster;
using ::semaphored::testing::IsOk;
using ::semaphored::testing::StatusIs;
using ::testing::HasSubstr;

class EtcdStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    absl::StatusOr<std::unique_ptr<EtcdCluster>> cluster = EtcdCluster::Start(1, dir_->path());
    ASSERT_THAT(cluster.status(), IsOk());
    cluster_ = cluster->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(cluster_, nullptr) << "etcd did not start"; }

  // Options for a prefix of this test's own.
  static EtcdStoreOptions Options(const std::string& prefix, int max_txn_ops = 127) {
    EtcdStoreOptions o;
    o.etcd.endpoints = cluster_->endpoints();
    o.etcd.call_timeout = absl::Seconds(2);
    o.prefix = absl::StrCat("/test/", ::testing::UnitTest::GetInstance()->current_test_info()->name(),
                            "/", prefix, "/");
    o.max_txn_ops = max_txn_ops;
    o.commit_timeout = absl::Seconds(5);
    return o;
  }
  static std::unique_ptr<EtcdStore> OpenStore(const EtcdStoreOptions& options) {
    absl::StatusOr<std::unique_ptr<EtcdStore>> store = EtcdStore::Open(options);
    EXPECT_THAT(store.status(), IsOk());
    return store.ok() ? *std::move(store) : nullptr;
  }
  // A raw client of the same etcd, for what a test writes or reads itself.
  static std::unique_ptr<EtcdClient> Raw() {
    EtcdOptions o;
    o.endpoints = cluster_->endpoints();
    absl::StatusOr<std::unique_ptr<EtcdClient>> client = EtcdClient::Create(o);
    EXPECT_THAT(client.status(), IsOk());
    return client.ok() ? *std::move(client) : nullptr;
  }
  static absl::StatusOr<int64_t> Put(EtcdClient& client, const std::string& key,
                                     const std::string& value) {
    etcdserverpb::TxnRequest txn;
    etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
    put->set_key(key);
    put->set_value(value);
    absl::StatusOr<etcdserverpb::TxnResponse> r = client.Txn(txn);
    if (!r.ok()) return r.status();
    return r->header().revision();
  }

  static TempDir* dir_;
  static EtcdCluster* cluster_;
};

TempDir* EtcdStoreTest::dir_ = nullptr;
EtcdCluster* EtcdStoreTest::cluster_ = nullptr;

TEST_F(EtcdStoreTest, ANewPrefixLoadsEmptyAndKeepsItsFormat) {
  const EtcdStoreOptions options = Options("p");
  std::unique_ptr<EtcdStore> store = OpenStore(options);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Describe(), absl::StrCat("etcd ", options.prefix, " at ",
                                            cluster_->endpoint(0)));
  EXPECT_TRUE(store->durable());
  ASSERT_OK_AND_ASSIGN(engine::StoredState state, store->Load());
  EXPECT_EQ(Dump(state), Dump(engine::StoredState{}));
  EXPECT_THAT(store->Load().status(), StatusIs(absl::StatusCode::kFailedPrecondition));

  std::unique_ptr<EtcdClient> raw = Raw();
  etcdserverpb::RangeRequest get;
  get.set_key(options.prefix + "meta/format");
  ASSERT_OK_AND_ASSIGN(etcdserverpb::RangeResponse format, raw->Range(get));
  ASSERT_EQ(format.kvs_size(), 1);
  EXPECT_EQ(format.kvs(0).value(), "1");
}

// Random batches, then a new store on the same prefix: Load equals the model that
// applied the same batches. With room for 127 operations per transaction most batches
// take one; with 6, nearly all are written as intents.
TEST_F(EtcdStoreTest, RandomBatchesLoadBackAfterEveryReopen) {
  constexpr int kCycles = 4;
  constexpr int kBatchesPerCycle = 10;
  int effects = 0;
  for (const int max_ops : {127, 6}) {
    SCOPED_TRACE(::testing::Message() << "max_txn_ops " << max_ops);
    const EtcdStoreOptions options = Options(absl::StrCat("ops", max_ops), max_ops);
    std::mt19937_64 rng(max_ops);
    StoreModel model;
    for (int cycle = 0; cycle < kCycles; ++cycle) {
      SCOPED_TRACE(::testing::Message() << "cycle " << cycle);
      std::unique_ptr<EtcdStore> store = OpenStore(options);
      ASSERT_NE(store, nullptr);
      ASSERT_OK_AND_ASSIGN(engine::StoredState loaded, store->Load());
      ASSERT_EQ(Dump(loaded), Dump(model.State()));
      for (int b = 0; b < kBatchesPerCycle; ++b) {
        engine::EffectBatch batch = RandomBatch(model, rng, 1 + static_cast<int>(rng() % 40));
        ASSERT_THAT(store->Commit(batch), IsOk());
        model.Apply(batch);
        effects += static_cast<int>(batch.effects.size());
      }
    }
    std::unique_ptr<EtcdStore> store = OpenStore(options);
    ASSERT_NE(store, nullptr);
    ASSERT_OK_AND_ASSIGN(engine::StoredState loaded, store->Load());
    EXPECT_EQ(Dump(loaded), Dump(model.State()));
    EXPECT_FALSE(model.sessions().empty());
    EXPECT_FALSE(model.semaphores().empty());
  }
  std::printf("committed %d random effects to etcd\n", effects);
}

// A batch too large for one transaction, cut after each of its transactions in turn
// (as a crash of the writer would cut it): a new store loads the state before it
// while the cut comes before the intent's end key, and the state after it from then on.
TEST_F(EtcdStoreTest, ABatchCutAfterAnyTransactionIsAllOrNothing) {
  constexpr int kMaxOps = 8;
  int befores = 0;
  int afters = 0;
  for (int cut = 1; cut <= 40; ++cut) {
    SCOPED_TRACE(::testing::Message() << "cut after transaction " << cut);
    EtcdStoreOptions options = Options(absl::StrCat("cut", cut), kMaxOps);
    options.max_txn_bytes = 600;  // several intent chunks
    StoreModel model;
    {
      std::unique_ptr<EtcdStore> store = OpenStore(options);
      ASSERT_NE(store, nullptr);
      ASSERT_THAT(store->Load().status(), IsOk());
      const engine::EffectBatch first = ReplaceEverything(model, 6);
      ASSERT_THAT(store->Commit(first), IsOk());
      model.Apply(first);
    }
    const engine::EffectBatch batch = ReplaceEverything(model, 12);
    StoreModel next = model;
    next.Apply(batch);
    bool cut_short = false;
    {
      std::unique_ptr<EtcdStore> store = OpenStore(options);
      ASSERT_NE(store, nullptr);
      ASSERT_THAT(store->Load().status(), IsOk());
      store->FailAfterTxnsForTest(cut);
      cut_short = !store->Commit(batch).ok();
    }
    std::unique_ptr<EtcdStore> store = OpenStore(options);
    ASSERT_NE(store, nullptr);
    ASSERT_OK_AND_ASSIGN(engine::StoredState loaded, store->Load());
    const std::string dump = Dump(loaded);
    if (dump == Dump(model.State())) {
      ++befores;
      EXPECT_EQ(afters, 0) << "a later cut undid a batch an earlier one kept";
    } else {
      EXPECT_EQ(dump, Dump(next.State())) << "neither before nor after";
      ++afters;
    }
    if (!cut_short) break;  // the whole batch went through: no later cut
  }
  EXPECT_GT(befores, 1) << "the batch never took several transactions";
  EXPECT_GT(afters, 1) << "no cut fell after the intent's end";
  // A loaded intent leaves no key behind: the store is as a fresh commit leaves it.
  std::unique_ptr<EtcdClient> raw = Raw();
  etcdserverpb::RangeRequest intents;
  const EtcdStoreOptions last = Options("cut1", kMaxOps);
  intents.set_key(last.prefix + "x/");
  intents.set_range_end(last.prefix + "x0");
  intents.set_count_only(true);
  ASSERT_OK_AND_ASSIGN(etcdserverpb::RangeResponse left, raw->Range(intents));
  EXPECT_EQ(left.count(), 0);
}

TEST_F(EtcdStoreTest, AWriterWhoseGuardKeyWasMadeAgainWritesNothing) {
  const EtcdStoreOptions options = Options("guard");
  std::unique_ptr<EtcdClient> raw = Raw();
  // (Outside the store's prefix, as the election keeps it.)
  const std::string leader_key = options.prefix.substr(0, options.prefix.size() - 1) + "-leader";
  ASSERT_OK_AND_ASSIGN(int64_t created, Put(*raw, leader_key, "server-a"));
  std::unique_ptr<EtcdStore> store = OpenStore(options);
  ASSERT_NE(store, nullptr);
  store->SetGuard(EtcdGuard{leader_key, created});
  ASSERT_THAT(store->Load().status(), IsOk());
  StoreModel model;
  std::mt19937_64 rng(7);
  engine::EffectBatch batch = RandomBatch(model, rng, 20);
  ASSERT_THAT(store->Commit(batch), IsOk());
  model.Apply(batch);

  // Another server took over: the key was deleted and made again (a new create
  // revision), as the next leader's campaign does.
  etcdserverpb::TxnRequest del;
  del.add_success()->mutable_request_delete_range()->set_key(leader_key);
  ASSERT_THAT(raw->Txn(del).status(), IsOk());
  ASSERT_THAT(Put(*raw, leader_key, "server-b").status(), IsOk());
  EXPECT_THAT(store->Commit(RandomBatch(model, rng, 20)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("no longer the leader")));
  EXPECT_THAT(store->Commit(RandomBatch(model, rng, 5)),
              StatusIs(absl::StatusCode::kFailedPrecondition))
      << "a store that failed stays failed";

  std::unique_ptr<EtcdStore> reader = OpenStore(options);
  ASSERT_NE(reader, nullptr);
  ASSERT_OK_AND_ASSIGN(engine::StoredState loaded, reader->Load());
  EXPECT_EQ(Dump(loaded), Dump(model.State())) << "the deposed writer changed nothing";
}

TEST_F(EtcdStoreTest, BadOptionsAreRefusedBeforeAnyCall) {
  EtcdStoreOptions options = Options("bad");
  options.prefix = "/no-slash";
  EXPECT_THAT(EtcdStore::Open(options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("must end with '/'")));
  options = Options("bad");
  options.etcd.endpoints = {"localhost:99999"};
  EXPECT_THAT(EtcdStore::Open(options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("localhost:99999")));
  options.etcd.endpoints = {"http://127.0.0.1:2379"};
  EXPECT_THAT(EtcdStore::Open(options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no scheme")));
  options.etcd.endpoints = {};
  EXPECT_THAT(EtcdStore::Open(options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no etcd endpoint")));
  options = Options("bad");
  options.etcd.tls_cert = "/nonexistent/cert.pem";
  EXPECT_THAT(EtcdStore::Open(options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("give both or neither")));
  options.etcd.tls_key = "/nonexistent/key.pem";
  EXPECT_THAT(EtcdStore::Open(options).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("/nonexistent/cert.pem")));
}

TEST_F(EtcdStoreTest, APrefixThatIsNotOursOrIsNewerIsRefused) {
  std::unique_ptr<EtcdClient> raw = Raw();
  const EtcdStoreOptions foreign = Options("foreign");
  ASSERT_THAT(Put(*raw, foreign.prefix + "config/x", "y").status(), IsOk());
  std::unique_ptr<EtcdStore> store = OpenStore(foreign);
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(store->Load().status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("choose another")));

  const EtcdStoreOptions newer = Options("newer");
  ASSERT_THAT(Put(*raw, newer.prefix + "meta/format", "9").status(), IsOk());
  store = OpenStore(newer);
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(store->Load().status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("format 9")));

  const EtcdStoreOptions corrupt = Options("corrupt");
  ASSERT_THAT(Put(*raw, corrupt.prefix + "meta/format", "1").status(), IsOk());
  ASSERT_THAT(Put(*raw, corrupt.prefix + "s/00000000000000zz", "?").status(), IsOk());
  store = OpenStore(corrupt);
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(store->Load().status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("s/00000000000000zz")));
}

// A 3-member cluster: the member the store talks to is killed between commits, and then
// etcd's Raft leader is; every commit still succeeds (the next endpoint, a new Raft
// leader) and everything loads back.
TEST(EtcdStoreClusterTest, KilledMembersLoseNothing) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EtcdCluster> cluster, EtcdCluster::Start(3, dir.path()));
  EtcdStoreOptions options;
  options.etcd.endpoints = cluster->endpoints();
  options.etcd.call_timeout = absl::Seconds(1);
  options.prefix = "/cluster/";
  options.commit_timeout = absl::Seconds(15);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EtcdStore> store, EtcdStore::Open(options));
  ASSERT_THAT(store->Load().status(), IsOk());
  StoreModel model;
  std::mt19937_64 rng(3);
  auto commit_some = [&](int batches) {
    for (int b = 0; b < batches; ++b) {
      engine::EffectBatch batch = RandomBatch(model, rng, 1 + static_cast<int>(rng() % 30));
      ASSERT_THAT(store->Commit(batch), IsOk());
      model.Apply(batch);
    }
  };
  commit_some(10);
  cluster->Kill(0);  // the first endpoint: the one the client uses
  commit_some(10);
  ASSERT_OK_AND_ASSIGN(int leader, cluster->Leader());
  cluster->Kill(leader);  // two of three gone: no quorum, commits must wait or fail
  engine::EffectBatch stalled = RandomBatch(model, rng, 5);
  options.commit_timeout = absl::Seconds(1);
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<EtcdStore> probe, EtcdStore::Open(options));
    EXPECT_THAT(probe->Load().status(), StatusIs(absl::StatusCode::kUnavailable,
                                                 HasSubstr("state store unavailable")));
  }
  ASSERT_THAT(cluster->Restart(0), IsOk());  // quorum again
  ASSERT_THAT(store->Commit(stalled), IsOk());
  model.Apply(stalled);
  commit_some(5);

  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EtcdStore> reader, EtcdStore::Open(options));
  ASSERT_OK_AND_ASSIGN(engine::StoredState loaded, reader->Load());
  EXPECT_EQ(Dump(loaded), Dump(model.State()));
}

}  // namespace
}  // namespace semaphored::store
