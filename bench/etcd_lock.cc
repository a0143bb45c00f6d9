// The peer semaphored on etcd is measured against: etcd's own lock service
// (v3lockpb.Lock / Unlock, the server side of clientv3's concurrency.Mutex) on the same
// cluster, driven like W1-W3 drive semaphored; and etcd's floor (a put and a read).
//
// etcd's Lock puts <name>/<lease> with the caller's lease, then waits (a watch) until
// every key under <name>/ created before it is deleted: waiters are served in the order
// of their keys' create revisions. Unlock deletes the key.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "etcd/etcdserver/api/v3lock/v3lockpb/v3lock.grpc.pb.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "etcd_bench.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "store/etcd_client.h"

namespace semaphored::bench {
namespace {

constexpr absl::Duration kLeaseTtl = absl::Seconds(60);
constexpr absl::Duration kLockTimeout = absl::Seconds(30);
constexpr absl::Duration kCallTimeout = absl::Seconds(5);

void SetDeadline(grpc::ClientContext& context, absl::Duration timeout) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

// gRPC's status of an etcd call as an absl::Status, "etcd CALL: MESSAGE".
absl::Status CallStatus(const char* call, const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat("etcd ", call, ": ", status.error_message()));
}

// One client of etcd's lock: its own lease, on one member.
struct LockClient {
  std::unique_ptr<v3lockpb::Lock::Stub> stub;
  int64_t lease = 0;

  // Lock(name, lease): the key that holds the lock, once granted.
  absl::StatusOr<std::string> Lock(const std::string& name) const {
    grpc::ClientContext context;
    SetDeadline(context, kLockTimeout);
    v3lockpb::LockRequest request;
    request.set_name(name);
    request.set_lease(lease);
    v3lockpb::LockResponse response;
    grpc::Status s = stub->Lock(&context, request, &response);
    if (!s.ok()) return CallStatus("Lock", s);
    return response.key();
  }
  absl::Status Unlock(const std::string& key) const {
    grpc::ClientContext context;
    SetDeadline(context, kCallTimeout);
    v3lockpb::UnlockRequest request;
    request.set_key(key);
    v3lockpb::UnlockResponse response;
    grpc::Status s = stub->Unlock(&context, request, &response);
    if (!s.ok()) return CallStatus("Unlock", s);
    return absl::OkStatus();
  }
};

// `n` lock clients, client i on member i % members, each with a lease of its own
// (granted here, revoked on destruction, which also deletes any key left behind).
class LockClients {
 public:
  static absl::StatusOr<std::unique_ptr<LockClients>> Start(
      const std::vector<std::string>& endpoints, int n) {
    std::unique_ptr<LockClients> out(new LockClients());
    store::EtcdOptions options;
    options.endpoints = endpoints;
    options.call_timeout = kCallTimeout;
    absl::StatusOr<std::unique_ptr<store::EtcdClient>> etcd = store::EtcdClient::Create(options);
    if (!etcd.ok()) return etcd.status();
    out->etcd_ = *std::move(etcd);
    std::vector<std::shared_ptr<grpc::Channel>> channels;
    for (const std::string& e : endpoints) {
      channels.push_back(grpc::CreateChannel(e, grpc::InsecureChannelCredentials()));
    }
    for (int i = 0; i < n; ++i) {
      etcdserverpb::LeaseGrantRequest grant;
      grant.set_ttl(absl::ToInt64Seconds(kLeaseTtl));
      absl::StatusOr<etcdserverpb::LeaseGrantResponse> lease = out->etcd_->LeaseGrant(grant);
      if (!lease.ok()) return lease.status();
      LockClient c;
      c.stub = v3lockpb::Lock::NewStub(channels[i % channels.size()]);
      c.lease = lease->id();
      out->clients_.push_back(std::move(c));
    }
    return out;
  }
  ~LockClients() {
    for (const LockClient& c : clients_) {
      etcdserverpb::LeaseRevokeRequest revoke;
      revoke.set_id(c.lease);
      etcd_->LeaseRevoke(revoke).IgnoreError();
    }
  }
  LockClients(const LockClients&) = delete;
  LockClients& operator=(const LockClients&) = delete;

  int size() const { return static_cast<int>(clients_.size()); }
  const LockClient& operator[](int i) const { return clients_[i]; }

 private:
  LockClients() = default;
  std::unique_ptr<store::EtcdClient> etcd_;
  std::vector<LockClient> clients_;
};

// Each client loops Lock -> Unlock on name_of(i) until `duration` passes; with
// `wait_only` the latency sample is the Lock call alone (W3's wait).
PairStats RunLockPairs(const LockClients& clients, absl::Duration duration,
                       const std::function<std::string(int)>& name_of, bool wait_only) {
  const int n = clients.size();
  std::vector<PairStats> per(n);
  const absl::Time start = absl::Now();
  const absl::Time end = start + duration;
  RunThreads(n, [&](int i) {
    const std::string name = name_of(i);
    for (absl::Time t0 = absl::Now(); t0 < end; t0 = absl::Now()) {
      absl::StatusOr<std::string> key = clients[i].Lock(name);
      if (!key.ok()) {
        ++per[i].failures;
        continue;
      }
      const absl::Time granted = absl::Now();
      if (!clients[i].Unlock(*key).ok()) ++per[i].failures;
      per[i].latency.Add((wait_only ? granted : absl::Now()) - t0);
      ++per[i].pairs;
    }
  });
  return PairStats::Sum(per, start);
}

// A watch of the deletes under a prefix: the create revision of every key deleted, in
// etcd's order. For W3's FIFO check: each holder deletes its key (Unlock) before the
// next one is granted, so the deletes come in grant order, and a key's create revision
// is its place in etcd's queue.
class DeleteWatch {
 public:
  // Returns once etcd has confirmed the watch.
  static absl::StatusOr<std::unique_ptr<DeleteWatch>> Start(const std::string& endpoint,
                                                            const std::string& prefix) {
    std::unique_ptr<DeleteWatch> w(new DeleteWatch());
    w->stub_ = etcdserverpb::Watch::NewStub(
        grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials()));
    w->stream_ = w->stub_->Watch(&w->context_);
    etcdserverpb::WatchRequest request;
    etcdserverpb::WatchCreateRequest* create = request.mutable_create_request();
    create->set_key(prefix);
    std::string end = prefix;
    end.back() = static_cast<char>(end.back() + 1);
    create->set_range_end(end);
    create->add_filters(etcdserverpb::WatchCreateRequest::NOPUT);
    create->set_prev_kv(true);
    etcdserverpb::WatchResponse created;
    if (!w->stream_->Write(request) || !w->stream_->Read(&created) || !created.created()) {
      w->context_.TryCancel();
      return absl::UnavailableError(absl::StrCat("etcd at ", endpoint,
                                                 ": cannot watch ", prefix));
    }
    w->reader_ = std::thread([raw = w.get()] { raw->Read(); });
    return w;
  }
  ~DeleteWatch() {
    context_.TryCancel();
    if (reader_.joinable()) reader_.join();
  }

  // Waits (at most `timeout`) until `count` deletes were seen, then stops; the create
  // revisions of the deleted keys in the order of their deletes.
  std::vector<int64_t> Stop(size_t count, absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      auto enough = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return revisions_.size() >= count;
      };
      mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
    }
    context_.TryCancel();
    reader_.join();
    absl::MutexLock lock(&mu_);
    return revisions_;
  }

 private:
  DeleteWatch() = default;
  void Read() ABSL_LOCKS_EXCLUDED(mu_) {
    etcdserverpb::WatchResponse response;
    while (stream_->Read(&response)) {
      absl::MutexLock lock(&mu_);
      for (const mvccpb::Event& e : response.events()) {
        if (e.type() == mvccpb::Event::DELETE) revisions_.push_back(e.prev_kv().create_revision());
      }
    }
    stream_->Finish().IgnoreError();
  }

  std::unique_ptr<etcdserverpb::Watch::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::WatchRequest,
                                           etcdserverpb::WatchResponse>>
      stream_;
  std::thread reader_;
  absl::Mutex mu_;
  std::vector<int64_t> revisions_ ABSL_GUARDED_BY(mu_);
};

void NoteFailures(Report& r, const std::string& label, int64_t failures) {
  if (failures) r.Note(absl::StrCat(label, ": ", failures, " Lock or Unlock calls failed"));
}

}  // namespace

absl::Status RunEtcdFloor(const BenchContext& ctx, const std::vector<std::string>& endpoints,
                          absl::Duration duration) {
  store::EtcdOptions options;
  options.endpoints = endpoints;
  options.call_timeout = kCallTimeout;
  absl::StatusOr<std::unique_ptr<store::EtcdClient>> etcd = store::EtcdClient::Create(options);
  if (!etcd.ok()) return etcd.status();
  // A put in a transaction (as the etcd store writes) of a value that changes each
  // time; a transaction of kWide such puts (about what a batch of W2's carries before
  // etcd's 128 operations per transaction); a linearizable read of the first key
  // (etcd's ReadIndex: a heartbeat round, no disk).
  constexpr int kWide = 100;
  etcdserverpb::TxnRequest put, wide;
  for (int k = 0; k < kWide; ++k) {
    etcdserverpb::PutRequest* p = wide.add_success()->mutable_request_put();
    p->set_key(absl::StrCat("/semaphored_bench_floor/", k));
    if (k == 0) *put.add_success()->mutable_request_put() = *p;
  }
  etcdserverpb::RangeRequest read;
  read.set_key(put.success(0).request_put().key());
  Samples puts, wides, reads;
  for (int phase = 0; phase < 3; ++phase) {
    Samples& samples = phase == 0 ? puts : phase == 1 ? wides : reads;
    const absl::Time end = absl::Now() + duration;
    for (int i = 0; absl::Now() < end; ++i) {
      put.mutable_success(0)->mutable_request_put()->set_value(absl::StrCat(i));
      for (auto& op : *wide.mutable_success()) op.mutable_request_put()->set_value(absl::StrCat(i));
      const absl::Time t0 = absl::Now();
      absl::Status s = phase == 0   ? (*etcd)->Txn(put).status()
                       : phase == 1 ? (*etcd)->Txn(wide).status()
                                    : (*etcd)->Range(read).status();
      if (!s.ok()) return s;
      if (i >= 10) samples.Add(absl::Now() - t0);  // the first ones warm the channel
    }
  }
  const double rt = ctx.floor.rt_p50_us();
  Report& r = *ctx.report;
  const std::string label = "etcd floor";
  const std::string wide_what = absl::StrCat("txn of ", kWide, " puts");
  for (auto [what, samples] : {std::pair<const char*, Samples*>{"put (one Raft commit)", &puts},
                               {wide_what.c_str(), &wides},
                               {"linearizable read", &reads}}) {
    const double p50 = samples->PercentileUs(50);
    const double p99 = samples->PercentileUs(99);
    r.Add({label, absl::StrCat(what, " p50"), p50, "us", p50 / rt, "", {}});
    r.Add({label, absl::StrCat(what, " p99"), p99, "us", p99 / rt, "", {}});
  }
  return absl::OkStatus();
}

absl::Status RunEtcdLockW1(const BenchContext& ctx, const std::vector<std::string>& endpoints,
                           absl::Duration duration, EtcdLockResults& out) {
  absl::StatusOr<std::unique_ptr<LockClients>> clients = LockClients::Start(endpoints, 1);
  if (!clients.ok()) return clients.status();
  auto name = [](int) { return std::string("bench/etcd-lock/w1"); };
  RunLockPairs(**clients, absl::Milliseconds(100), name, false);  // warm up
  PairStats st = RunLockPairs(**clients, duration, name, false);
  const Floor& f = ctx.floor;
  const double p50 = st.latency.PercentileUs(50);
  const double p99 = st.latency.PercentileUs(99);
  const std::string label = "W1 etcd-lock";
  Report& r = *ctx.report;
  r.Add({label, "pairs/s (1 client)", st.rate(), "/s", st.rate() / f.stream_rate_1, "", {}});
  r.Add({label, "pair p50 (Lock + Unlock awaited)", p50, "us", p50 / f.rt_p50_us(), "", {}});
  r.Add({label, "pair p99", p99, "us", p99 / f.rt_p50_us(), "", {}});
  NoteFailures(r, label, st.failures);
  out.w1_rate = st.rate();
  out.w1_p50_us = p50;
  return absl::OkStatus();
}

absl::Status RunEtcdLockW2(const BenchContext& ctx, const std::vector<std::string>& endpoints,
                           absl::Duration duration, int clients, EtcdLockResults& out) {
  absl::StatusOr<std::unique_ptr<LockClients>> lock_clients =
      LockClients::Start(endpoints, clients);
  if (!lock_clients.ok()) return lock_clients.status();
  PairStats st = RunLockPairs(
      **lock_clients, duration, [](int i) { return absl::StrCat("bench/etcd-lock/w2/", i); },
      false);
  const Floor& f = ctx.floor;
  const double p99 = st.latency.PercentileUs(99);
  const std::string label = "W2 etcd-lock";
  Report& r = *ctx.report;
  r.Add({label, absl::StrCat("pairs/s (", clients, " clients)"), st.rate(), "/s",
         st.rate() / f.stream_rate_n, "", {}});
  r.Add({label, "pair p99", p99, "us", p99 / f.rt_p50_us(), "", {}});
  NoteFailures(r, label, st.failures);
  out.w2_rate = st.rate();
  return absl::OkStatus();
}

absl::Status RunEtcdLockW3(const BenchContext& ctx, const std::vector<std::string>& endpoints,
                           absl::Duration duration, int clients, EtcdLockResults& out) {
  absl::StatusOr<std::unique_ptr<LockClients>> lock_clients =
      LockClients::Start(endpoints, clients);
  if (!lock_clients.ok()) return lock_clients.status();
  const std::string name = "bench/etcd-lock/w3";
  absl::StatusOr<std::unique_ptr<DeleteWatch>> watch =
      DeleteWatch::Start(endpoints[0], name + "/");
  if (!watch.ok()) return watch.status();
  PairStats st = RunLockPairs(**lock_clients, duration, [&](int) { return name; }, true);
  const std::vector<int64_t> order =
      (*watch)->Stop(static_cast<size_t>(st.pairs), absl::Seconds(2));
  int64_t violations = 0;
  for (size_t i = 1; i < order.size(); ++i) {
    if (order[i] < order[i - 1]) ++violations;
  }

  const Floor& f = ctx.floor;
  const double rate = st.rate();
  const double mean_handoff_us = rate > 0 ? 1e6 / rate : 0;
  const double p99 = st.latency.PercentileUs(99);
  const double bound = 1.5 * clients * mean_handoff_us;
  const std::string label = "W3 etcd-lock";
  Report& r = *ctx.report;
  r.Add({label, absl::StrCat("handoffs/s (", clients, " clients)"), rate, "/s",
         rate / f.stream_rate_1, "", {}});
  r.Add({label, "wait p99", p99, "us", p99 / f.rt_p50_us(),
         absl::StrFormat("(information: 1.5 x 16 x mean, %.0f us)", bound), {}});
  r.Add({label, "FIFO violations", static_cast<double>(violations), "", std::nullopt, "", {}});
  r.Add({label, "FIFO grants checked", static_cast<double>(order.size()), "", std::nullopt,
         absl::StrCat("(information: ", st.pairs, " handoffs)"), {}});
  r.Note(absl::StrCat(
      label, " FIFO check: a watch of the deletes under the lock's prefix (with each "
      "deleted key's create revision, its place in etcd's queue); each holder deletes "
      "its key (Unlock) before the next is granted, so the revisions must increase."));
  NoteFailures(r, label, st.failures);
  out.w3_rate = rate;
  out.w3_p99_us = p99;
  return absl::OkStatus();
}

}  // namespace semaphored::bench
