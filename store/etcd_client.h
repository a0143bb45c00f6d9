#ifndef SEMAPHORED_STORE_ETCD_CLIENT_H_
#define SEMAPHORED_STORE_ETCD_CLIENT_H_

// A client of etcd's v3 API (the generated stubs of Debian's etcd .proto files) for the
// etcd store and the leader election: a channel per endpoint, each call sent to the
// endpoint that answered last and, when that one is unreachable, to the next.

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"

namespace semaphored::store {

struct EtcdOptions {
  // host:port of each member's client URL (at least one).
  std::vector<std::string> endpoints;
  // The deadline of one call to one endpoint.
  absl::Duration call_timeout = absl::Seconds(5);
  // TLS to etcd: PEM file paths. All empty: plaintext. A CA alone: server
  // authentication; with a cert and key: mutual TLS.
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
};

class EtcdClient {
 public:
  // Checks the options (endpoints present and well-formed, TLS files readable) and
  // makes the channels; connects lazily.
  static absl::StatusOr<std::unique_ptr<EtcdClient>> Create(const EtcdOptions& options);

  // One call each. A call that fails as unreachable (UNAVAILABLE, DEADLINE_EXCEEDED)
  // is tried on every other endpoint in turn; the error of the last try is returned
  // as UNAVAILABLE "etcd at HOST:PORT: ...". Other errors come back at once with the
  // endpoint in the message and their code (etcd's INVALID_ARGUMENT for too many
  // operations in a transaction, FAILED_PRECONDITION, ...).
  absl::StatusOr<etcdserverpb::TxnResponse> Txn(const etcdserverpb::TxnRequest& request);
  absl::StatusOr<etcdserverpb::RangeResponse> Range(const etcdserverpb::RangeRequest& request);
  absl::StatusOr<etcdserverpb::LeaseGrantResponse> LeaseGrant(
      const etcdserverpb::LeaseGrantRequest& request);
  absl::StatusOr<etcdserverpb::LeaseRevokeResponse> LeaseRevoke(
      const etcdserverpb::LeaseRevokeRequest& request);
  // One keepalive (a unary use of the LeaseKeepAlive stream): the lease's new TTL, 0
  // when the lease no longer exists.
  absl::StatusOr<int64_t> LeaseKeepAliveOnce(int64_t lease);
  absl::StatusOr<etcdserverpb::StatusResponse> Status(const std::string& endpoint);

  const std::vector<std::string>& endpoints() const { return endpoints_; }

 private:
  struct Endpoint {
    std::string address;
    std::unique_ptr<etcdserverpb::KV::Stub> kv;
    std::unique_ptr<etcdserverpb::Lease::Stub> lease;
    std::unique_ptr<etcdserverpb::Maintenance::Stub> maintenance;
  };
  explicit EtcdClient(absl::Duration call_timeout) : call_timeout_(call_timeout) {}
  // Calls `call(endpoint, context)` on the current endpoint, then on the others while
  // they are unreachable.
  template <typename Call>
  absl::Status OnSomeEndpoint(Call call) ABSL_LOCKS_EXCLUDED(mu_);
  // A unary call (`call(endpoint, context, &response)`) through OnSomeEndpoint.
  template <typename Response, typename Call>
  absl::StatusOr<Response> Unary(Call call) ABSL_LOCKS_EXCLUDED(mu_);

  const absl::Duration call_timeout_;
  std::vector<std::string> endpoints_;
  std::vector<Endpoint> channels_;
  absl::Mutex mu_;
  size_t current_ ABSL_GUARDED_BY(mu_) = 0;  // the endpoint that answered last
};

// "etcd at ADDRESS: MESSAGE" with gRPC's code as a Status.
absl::Status EtcdStatus(const std::string& address, const grpc::Status& status);

}  // namespace semaphored::store

#endif  // SEMAPHORED_STORE_ETCD_CLIENT_H_
