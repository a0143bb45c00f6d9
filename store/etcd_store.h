#ifndef SEMAPHORED_STORE_ETCD_STORE_H_
#define SEMAPHORED_STORE_ETCD_STORE_H_

// The etcd adapter of the store port (engine/store.h): the engine's state as keys
// under a prefix in an etcd cluster, each batch committed in one etcd transaction.
//
// Keys (values are the messages of protos/semaphored/store/v1/etcd_records.proto):
//   <prefix>meta/format                  "1"
//   <prefix>meta/token_high_water, meta/last_waiter, meta/last_session   decimal
//   <prefix>s/<session, 16 hex>          SessionRecord (with its last seq)
//   <prefix>m/<name>                     SemaphoreRecord
//   <prefix>h/<name>\0<session, 16 hex>  HolderRecord (grant_seq orders a name's holders)
//   <prefix>w/<waiter, 16 hex>           WaiterRecord (key order = queue order)
//   <prefix>o/<session, 16 hex>/<seq, 16 hex>   OutcomeRecord
//   <prefix>x/<batch, 16 hex>/...        the intent of a batch too large for one
//                                        transaction (see Commit)
//
// Commit turns a batch into the final put or delete of each key it touches (etcd
// refuses a transaction that names a key twice; the last effect on a key decides) and
// sends them in one transaction, guarded (when a guard is set) by a compare on the
// leader's key, so that a server that is no longer the leader can never write. A batch
// with more operations than one transaction may carry (etcd's --max-txn-ops, 128 by
// default) or more bytes than one request (--max-request-bytes, 1.5 MiB) is written
// first as an intent: its operations in chunks under x/<batch>/<n>, then the key
// x/<batch>/end in a transaction of its own — the moment the batch commits — then
// applied in transactions of at most the limit, then the intent is deleted. Load
// reads every key at one revision and finishes applying a committed intent (an intent
// without its end key never committed: it is dropped).
//
// The adapter is the only writer under its prefix (the leader's guard makes it so)
// and keeps, from Load on, what it needs to write without reading: the meta values,
// each session's record, each holder's grant order.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/store.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"
#include "semaphored/store/v1/etcd_records.pb.h"
#include "store/etcd_client.h"

namespace semaphored::store {

struct EtcdStoreOptions {
  EtcdOptions etcd;
  // Every key is under it (default "/semaphored/"); must end with '/'.
  std::string prefix = "/semaphored/";
  // The most operations one transaction carries, the guard's compare not counted
  // (etcd's --max-txn-ops, less one for safety); the request bytes likewise.
  int max_txn_ops = 127;
  int64_t max_txn_bytes = 1 << 20;
  // How long a commit keeps trying while etcd is unreachable before it fails.
  absl::Duration commit_timeout = absl::Seconds(10);
};

// The compare every write carries: the key exists with this create revision (the
// leader's key, created with the leader's lease; see the election).
struct EtcdGuard {
  std::string key;
  int64_t create_revision = 0;
};

class EtcdStore : public engine::Store {
 public:
  // Checks the options and connects lazily (Load is the first call to etcd).
  static absl::StatusOr<std::unique_ptr<EtcdStore>> Open(const EtcdStoreOptions& options);
  // With a client shared with the election.
  static absl::StatusOr<std::unique_ptr<EtcdStore>> Open(const EtcdStoreOptions& options,
                                                          std::shared_ptr<EtcdClient> client);

  // Guards every later transaction (nullopt: none, for a single writer by contract).
  void SetGuard(std::optional<EtcdGuard> guard) ABSL_LOCKS_EXCLUDED(mu_);

  absl::StatusOr<engine::StoredState> Load() override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Commit(const engine::EffectBatch& batch) override ABSL_LOCKS_EXCLUDED(mu_);
  std::string Describe() const override;
  bool durable() const override { return true; }

  // For tests: fail (as a crash would stop it) after this many transactions of the
  // next commit; 0: never.
  void FailAfterTxnsForTest(int txns) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // The final operation on one key (relative to the prefix): a put of `value`, or a
  // delete when `value` is nullopt.
  using Ops = std::map<std::string, std::optional<std::string>>;

  EtcdStore(EtcdStoreOptions options, std::shared_ptr<EtcdClient> client);
  absl::Status AddOps(const engine::Effect& effect, Ops* ops) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RaiseMeta(const char* key, uint64_t value, uint64_t* kept, Ops* ops)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RaiseLastSeq(engine::SessionId session, uint64_t seq, Ops* ops)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // One guarded transaction of `ops` (at most the limits), retried while etcd is
  // unreachable until `deadline`.
  absl::Status Write(const Ops& ops, absl::Time deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteTxn(etcdserverpb::TxnRequest request, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CommitAsIntent(const Ops& ops, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies `ops` in transactions within the limits (each one idempotent: a put or a
  // delete of a final value).
  absl::Status ApplyInParts(const Ops& ops, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Fits(const Ops& ops) const;

  const EtcdStoreOptions options_;
  const std::shared_ptr<EtcdClient> client_;
  absl::Mutex mu_;
  std::optional<EtcdGuard> guard_ ABSL_GUARDED_BY(mu_);
  bool loaded_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status broken_ ABSL_GUARDED_BY(mu_);
  int fail_after_txns_ ABSL_GUARDED_BY(mu_) = 0;
  // Known from Load on (see the file comment).
  uint64_t token_high_water_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t last_waiter_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t last_session_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_grant_seq_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_intent_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<engine::SessionId, v1::SessionRecord> sessions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace semaphored::store

#endif  // SEMAPHORED_STORE_ETCD_STORE_H_
