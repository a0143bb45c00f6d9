// EtcdRegistration: a key on a lease kept alive by a thread, put again when lost.

#include "store/etcd_registration.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace semaphored::store {

EtcdRegistration::EtcdRegistration(std::shared_ptr<EtcdClient> client,
                                   EtcdRegistrationOptions options)
    : client_(std::move(client)), options_(std::move(options)) {
  thread_ = std::thread([this] { Run(); });
}

EtcdRegistration::~EtcdRegistration() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
  int64_t lease = 0;
  {
    absl::MutexLock lock(&mu_);
    lease = std::exchange(lease_, 0);
  }
  if (lease == 0) return;
  etcdserverpb::LeaseRevokeRequest revoke;
  revoke.set_id(lease);
  client_->LeaseRevoke(revoke).IgnoreError();  // else the lease lapses on its own
}

absl::Status EtcdRegistration::status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

absl::StatusOr<int64_t> EtcdRegistration::Register() {
  etcdserverpb::LeaseGrantRequest grant;
  grant.set_ttl(std::max<int64_t>(
      1, absl::ToInt64Seconds(absl::Ceil(options_.ttl, absl::Seconds(1)))));
  absl::StatusOr<etcdserverpb::LeaseGrantResponse> granted = client_->LeaseGrant(grant);
  if (!granted.ok()) return granted.status();
  if (!granted->error().empty()) {
    return absl::UnavailableError(absl::StrCat("etcd refused a lease: ", granted->error()));
  }
  etcdserverpb::TxnRequest txn;
  etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
  put->set_key(options_.key);
  put->set_value(options_.value);
  put->set_lease(granted->id());
  absl::StatusOr<etcdserverpb::TxnResponse> response = client_->Txn(txn);
  if (!response.ok()) {
    // The lease would keep nothing: let it go (it lapses anyway if this fails too).
    etcdserverpb::LeaseRevokeRequest revoke;
    revoke.set_id(granted->id());
    client_->LeaseRevoke(revoke).IgnoreError();
    return response.status();
  }
  return granted->id();
}

void EtcdRegistration::Run() {
  // A third of the TTL between keepalives (and between attempts while etcd does not
  // answer): two may fail before the lease can lapse.
  const absl::Duration interval = std::max(absl::Milliseconds(100), options_.ttl / 3);
  bool first = true;
  for (;;) {
    int64_t lease = 0;
    {
      absl::MutexLock lock(&mu_);
      if (!first) mu_.AwaitWithTimeout(absl::Condition(&stop_), interval);
      first = false;
      if (stop_) return;
      lease = lease_;
    }
    absl::Status status;
    if (lease != 0) {
      absl::StatusOr<int64_t> ttl = client_->LeaseKeepAliveOnce(lease);
      if (ttl.ok() && *ttl == 0) {
        lease = 0;  // gone at etcd (cut off past the TTL): register anew below
      } else {
        status = ttl.status();
      }
    }
    if (lease == 0) {
      absl::StatusOr<int64_t> registered = Register();
      status = registered.status();
      if (registered.ok()) lease = *registered;
    }
    absl::MutexLock lock(&mu_);
    lease_ = lease;
    status_ = status;
  }
}

}  // namespace semaphored::store
