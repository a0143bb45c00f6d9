// EtcdLeader: the election recipe on an etcd lease, and the leader's own-clock bound.

#include "store/etcd_leader.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace semaphored::store {
namespace {

// What the own-clock bound keeps in hand: clocks drift, and a keepalive answer may be
// read a little after etcd sent it.
absl::Duration Margin(absl::Duration ttl) { return ttl / 10; }

}  // namespace

EtcdLeader::EtcdLeader(std::shared_ptr<EtcdClient> client, EtcdLeaderOptions options)
    : client_(std::move(client)), options_(std::move(options)) {}

EtcdLeader::~EtcdLeader() {
  Resign();
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (keepalive_.joinable()) keepalive_.join();
}

void EtcdLeader::SetOnLost(std::function<void(const absl::Status&)> on_lost) {
  on_lost_ = std::move(on_lost);
}

bool EtcdLeader::Valid() const {
  absl::MutexLock lock(&mu_);
  return ValidLocked();
}

void EtcdLeader::PauseKeepAlivesForTest() {
  absl::MutexLock lock(&mu_);
  paused_ = true;
}

absl::StatusOr<EtcdLeader::Attempt> EtcdLeader::TryLead() {
  absl::MutexLock lock(&mu_);
  if (lost_) return absl::FailedPreconditionError("this candidate lost its lease: start anew");
  // A candidate's lease is kept alive only once it leads: a waiting candidate takes a
  // new one when the last may have lapsed.
  if (lease_ == 0 || (!leading_ && absl::Now() >= valid_until_)) {
    etcdserverpb::LeaseGrantRequest grant;
    grant.set_ttl(std::max<int64_t>(1, absl::ToInt64Seconds(absl::Ceil(options_.ttl, absl::Seconds(1)))));
    const absl::Time sent = absl::Now();
    absl::StatusOr<etcdserverpb::LeaseGrantResponse> granted = client_->LeaseGrant(grant);
    if (!granted.ok()) return granted.status();
    if (!granted->error().empty()) {
      return absl::UnavailableError(absl::StrCat("etcd refused a lease: ", granted->error()));
    }
    lease_ = granted->id();
    granted_ttl_ = absl::Seconds(granted->ttl());
    valid_until_ = sent + granted_ttl_ - Margin(granted_ttl_);
  }
  etcdserverpb::TxnRequest txn;
  etcdserverpb::Compare* absent = txn.add_compare();
  absent->set_key(options_.key);
  absent->set_target(etcdserverpb::Compare::CREATE);
  absent->set_result(etcdserverpb::Compare::EQUAL);
  absent->set_create_revision(0);
  etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
  put->set_key(options_.key);
  put->set_value(options_.value);
  put->set_lease(lease_);
  txn.add_failure()->mutable_request_range()->set_key(options_.key);
  absl::StatusOr<etcdserverpb::TxnResponse> response = client_->Txn(txn);
  if (!response.ok()) return response.status();
  Attempt attempt;
  if (response->succeeded()) {
    attempt.leading = true;
    attempt.guard = EtcdGuard{options_.key, response->header().revision()};
  } else {
    const etcdserverpb::RangeResponse& current = response->responses(0).response_range();
    if (current.kvs_size() == 1 && current.kvs(0).lease() == lease_) {
      // Ours already (an earlier attempt whose answer was lost).
      attempt.leading = true;
      attempt.guard = EtcdGuard{options_.key, current.kvs(0).create_revision()};
    } else if (current.kvs_size() == 1) {
      attempt.leader = current.kvs(0).value();
    }
  }
  if (attempt.leading && !leading_) {
    leading_ = true;
    keepalive_ = std::thread([this] { KeepAlive(); });
  }
  return attempt;
}

void EtcdLeader::KeepAlive() {
  // The first keepalive goes at once: the lease was taken while this server was a
  // candidate and may have little of its TTL left.
  absl::Duration wait = absl::ZeroDuration();
  for (;;) {
    int64_t lease = 0;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(
          absl::Condition(
              +[](EtcdLeader* self) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                return self->stop_ || self->lost_;
              },
              this),
          wait);
      if (stop_ || lost_) return;
      if (!ValidLocked()) {
        // Checked before a keepalive: a pause past the bound is noticed even when
        // the keepalive would now succeed (the key may be another's already).
        break;
      }
      if (paused_) {
        wait = granted_ttl_ / 3;
        continue;
      }
      lease = lease_;
    }
    const absl::Time sent = absl::Now();
    absl::StatusOr<int64_t> ttl = client_->LeaseKeepAliveOnce(lease);
    // A third of the TTL between keepalives (two may fail before the lease can lapse);
    // after a failure (etcd electing a leader, a member gone) the next try goes at
    // once, only paced against endpoints that refuse at once.
    absl::MutexLock lock(&mu_);
    wait = ttl.ok() ? granted_ttl_ / 3 : absl::Milliseconds(50);
    if (ttl.ok() && *ttl > 0) {
      valid_until_ = std::max(valid_until_, sent + absl::Seconds(*ttl) - Margin(granted_ttl_));
    } else if (ttl.ok()) {
      lost_status_ = absl::UnavailableError("etcd says the leader's lease is gone");
      break;
    }
    // An unreachable etcd: try again; Valid() runs out on its own.
  }
  absl::Status why;
  {
    absl::MutexLock lock(&mu_);
    if (stop_) return;
    why = lost_status_.ok() ? absl::UnavailableError(absl::StrCat(
                                  "the leader's lease may have lapsed: no keepalive answered "
                                  "within its ",
                                  absl::FormatDuration(granted_ttl_), " TTL"))
                            : lost_status_;
  }
  Lose(why);
}

void EtcdLeader::Lose(const absl::Status& why) {
  {
    absl::MutexLock lock(&mu_);
    if (lost_) return;
    lost_ = true;
  }
  if (on_lost_) on_lost_(why);
}

void EtcdLeader::Resign() {
  int64_t lease = 0;
  {
    absl::MutexLock lock(&mu_);
    lease = std::exchange(lease_, 0);
    lost_ = lost_ || leading_;
    leading_ = false;
  }
  if (lease == 0) return;
  etcdserverpb::LeaseRevokeRequest revoke;
  revoke.set_id(lease);
  client_->LeaseRevoke(revoke).IgnoreError();  // else the lease lapses on its own
}

}  // namespace semaphored::store
