// ClusterView: this server's registration on etcd, and GetCluster's description.

#include "server/cluster_view.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/proto_time.h"
#include "google/protobuf/util/json_util.h"

namespace semaphored::server {
namespace {

using ::semaphored::internal::ToProtoTimestamp;

constexpr char kServersDir[] = "servers/";

// The smallest key after every key that starts with `prefix` (etcd's range_end).
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xff) {
    prefix.pop_back();
  }
  if (!prefix.empty()) prefix.back() = static_cast<char>(prefix.back() + 1);
  return prefix;
}

// A registration's value: the server's address and start time as JSON (readable with
// etcdctl); its role is not kept there but derived from the leader key.
std::string RegistrationValue(const std::string& address, absl::Time start_time) {
  v1::ClusterServer server;
  server.set_address(address);
  *server.mutable_start_time() = ToProtoTimestamp(start_time);
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(server, &json);
  return json;
}

v1::EtcdEndpoint EndpointStatus(store::EtcdClient& client, const std::string& endpoint) {
  v1::EtcdEndpoint out;
  out.set_endpoint(endpoint);
  absl::StatusOr<etcdserverpb::StatusResponse> status = client.Status(endpoint);
  if (!status.ok()) {
    out.set_error(std::string(status.status().message()));
    return out;
  }
  out.set_reachable(true);
  const uint64_t id = status->header().member_id();
  out.set_member_id(absl::StrFormat("%016x", id));
  out.set_raft_leader(status->leader() != 0 && status->leader() == id);
  out.set_version(status->version());
  out.set_db_size_bytes(status->dbsize());
  std::vector<std::string> errors(status->errors().begin(), status->errors().end());
  if (status->leader() == 0) errors.push_back("the member knows no Raft leader");
  out.set_error(absl::StrJoin(errors, "; "));
  return out;
}

}  // namespace

ClusterView::ClusterView(std::string address)
    : start_time_(absl::Now()), address_(std::move(address)) {}

ClusterView::ClusterView(std::shared_ptr<store::EtcdClient> client, std::string prefix,
                         std::string advertise, absl::Duration ttl)
    : client_(std::move(client)),
      prefix_(std::move(prefix)),
      start_time_(absl::Now()),
      address_(advertise) {
  store::EtcdRegistrationOptions registration;
  registration.key = absl::StrCat(prefix_, kServersDir, advertise);
  registration.value = RegistrationValue(advertise, start_time_);
  registration.ttl = ttl;
  registration_ = std::make_unique<store::EtcdRegistration>(client_, registration);
  thread_ = std::thread([this] { Work(); });
}

ClusterView::~ClusterView() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
  registration_.reset();
}

void ClusterView::SetAddress(std::string address) {
  absl::MutexLock lock(&mu_);
  address_ = std::move(address);
}

void ClusterView::SetLeading() {
  absl::MutexLock lock(&mu_);
  leading_ = true;
}

void ClusterView::Describe(Done done) {
  if (client_ == nullptr) {
    std::move(done)(DescribeSingle());
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    if (!stop_) {
      pending_.push_back(std::move(done));
      return;
    }
  }
  std::move(done)(absl::UnavailableError("server is shutting down"));
}

void ClusterView::Work() {
  for (;;) {
    std::deque<Done> batch;
    bool stop = false;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || !pending_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      batch.swap(pending_);
      stop = stop_;
    }
    // Answered without the lock: an answer finishes a gRPC call.
    if (stop) {
      for (Done& done : batch) {
        std::move(done)(absl::UnavailableError("server is shutting down"));
      }
      return;
    }
    const v1::GetClusterResponse response = DescribeFromEtcd();
    for (Done& done : batch) std::move(done)(response);
  }
}

v1::GetClusterResponse ClusterView::DescribeSingle() const {
  v1::GetClusterResponse response;
  response.set_mode(v1::CLUSTER_MODE_SINGLE_SERVER);
  absl::MutexLock lock(&mu_);
  response.set_leader_address(address_);
  response.set_answered_by(address_);
  v1::ClusterServer* self = response.add_servers();
  self->set_address(address_);
  self->set_role(v1::SERVER_ROLE_LEADER);
  *self->mutable_start_time() = ToProtoTimestamp(start_time_);
  return response;
}

v1::GetClusterResponse ClusterView::DescribeFromEtcd() const {
  std::string address;
  bool leading = false;
  {
    absl::MutexLock lock(&mu_);
    address = address_;
    leading = leading_;
  }
  v1::GetClusterResponse response;
  response.set_mode(v1::CLUSTER_MODE_ETCD);
  response.set_answered_by(address);
  // The leader key and the registrations in one transaction: one revision's view.
  etcdserverpb::TxnRequest txn;
  txn.add_success()->mutable_request_range()->set_key(prefix_ + "leader");
  etcdserverpb::RangeRequest* servers = txn.add_success()->mutable_request_range();
  servers->set_key(prefix_ + kServersDir);
  servers->set_range_end(PrefixEnd(prefix_ + kServersDir));
  absl::StatusOr<etcdserverpb::TxnResponse> read = client_->Txn(txn);
  if (!read.ok()) {
    response.set_etcd_error(std::string(read.status().message()));
    v1::ClusterServer* self = response.add_servers();
    self->set_address(address);
    self->set_role(leading ? v1::SERVER_ROLE_LEADER : v1::SERVER_ROLE_STANDBY);
    *self->mutable_start_time() = ToProtoTimestamp(start_time_);
  } else {
    const etcdserverpb::RangeResponse& leader = read->responses(0).response_range();
    if (leader.kvs_size() == 1) response.set_leader_address(leader.kvs(0).value());
    std::vector<v1::ClusterServer> found;
    bool leader_registered = false;
    const size_t skip = prefix_.size() + sizeof(kServersDir) - 1;
    for (const mvccpb::KeyValue& kv : read->responses(1).response_range().kvs()) {
      v1::ClusterServer server;
      google::protobuf::util::JsonParseOptions lenient;
      lenient.ignore_unknown_fields = true;
      // A value that does not parse still names the server by its key.
      (void)google::protobuf::util::JsonStringToMessage(kv.value(), &server, lenient);
      server.set_address(kv.key().substr(skip));
      const bool leads = server.address() == response.leader_address();
      leader_registered = leader_registered || leads;
      server.set_role(leads ? v1::SERVER_ROLE_LEADER : v1::SERVER_ROLE_STANDBY);
      found.push_back(std::move(server));
    }
    if (!leader_registered && !response.leader_address().empty()) {
      v1::ClusterServer server;
      server.set_address(response.leader_address());
      server.set_role(v1::SERVER_ROLE_LEADER);
      found.push_back(std::move(server));
    }
    std::sort(found.begin(), found.end(),
              [](const v1::ClusterServer& a, const v1::ClusterServer& b) {
                if (a.role() != b.role()) return a.role() == v1::SERVER_ROLE_LEADER;
                return a.address() < b.address();
              });
    for (v1::ClusterServer& server : found) *response.add_servers() = std::move(server);
  }
  for (const std::string& endpoint : client_->endpoints()) {
    *response.add_etcd_endpoints() = EndpointStatus(*client_, endpoint);
  }
  return response;
}

}  // namespace semaphored::server
