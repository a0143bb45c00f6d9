// EtcdClient: etcd's v3 KV, Lease and Maintenance calls with failover between members.

#include "store/etcd_client.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace semaphored::store {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read the etcd TLS ", what, " file ", path));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// HOST:PORT with a port in 1..65535 ([v6]:PORT for an IPv6 address).
absl::Status CheckEndpoint(const std::string& endpoint) {
  const size_t colon = endpoint.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(endpoint.substr(colon + 1), &port) || port < 1 || port > 65535 ||
      endpoint.find("://") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "etcd endpoint '", endpoint, "' is not HOST:PORT (a port 1-65535, no scheme)"));
  }
  return absl::OkStatus();
}

bool Unreachable(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
         status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

}  // namespace

absl::Status EtcdStatus(const std::string& address, const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat("etcd at ", address, ": ", status.error_message()));
}

absl::StatusOr<std::unique_ptr<EtcdClient>> EtcdClient::Create(const EtcdOptions& options) {
  if (options.endpoints.empty()) {
    return absl::InvalidArgumentError("no etcd endpoint given");
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!options.tls_ca.empty() || !options.tls_cert.empty() || !options.tls_key.empty()) {
    if (options.tls_cert.empty() != options.tls_key.empty()) {
      return absl::InvalidArgumentError(
          "the etcd TLS certificate and key go together: give both or neither");
    }
    grpc::SslCredentialsOptions ssl;
    if (!options.tls_ca.empty()) {
      absl::StatusOr<std::string> ca = ReadPem(options.tls_ca, "CA");
      if (!ca.ok()) return ca.status();
      ssl.pem_root_certs = *std::move(ca);
    }
    if (!options.tls_cert.empty()) {
      absl::StatusOr<std::string> cert = ReadPem(options.tls_cert, "certificate");
      if (!cert.ok()) return cert.status();
      absl::StatusOr<std::string> key = ReadPem(options.tls_key, "key");
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *std::move(cert);
      ssl.pem_private_key = *std::move(key);
    }
    credentials = grpc::SslCredentials(ssl);
  }
  std::unique_ptr<EtcdClient> client(new EtcdClient(options.call_timeout));
  for (const std::string& endpoint : options.endpoints) {
    if (absl::Status s = CheckEndpoint(endpoint); !s.ok()) return s;
    grpc::ChannelArguments args;
    // etcd's answers to a load may be large (it pages them at our request anyway).
    args.SetMaxReceiveMessageSize(64 << 20);
    // A member that comes back (restarted, reachable again) is used within a second,
    // not after gRPC's default backoff of up to two minutes.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    std::shared_ptr<grpc::Channel> channel =
        grpc::CreateCustomChannel(endpoint, credentials, args);
    client->endpoints_.push_back(endpoint);
    client->channels_.push_back(Endpoint{endpoint, etcdserverpb::KV::NewStub(channel),
                                         etcdserverpb::Lease::NewStub(channel),
                                         etcdserverpb::Maintenance::NewStub(channel)});
  }
  return client;
}

template <typename Call>
absl::Status EtcdClient::OnSomeEndpoint(Call call) {
  size_t first = 0;
  {
    absl::MutexLock lock(&mu_);
    first = current_;
  }
  grpc::Status last;
  std::string last_address;
  for (size_t i = 0; i < channels_.size(); ++i) {
    const size_t index = (first + i) % channels_.size();
    Endpoint& endpoint = channels_[index];
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + call_timeout_));
    last = call(endpoint, &context);
    last_address = endpoint.address;
    if (!Unreachable(last)) {
      absl::MutexLock lock(&mu_);
      current_ = index;
      break;
    }
  }
  if (last.ok()) return absl::OkStatus();
  absl::Status status = EtcdStatus(last_address, last);
  if (Unreachable(last)) {
    return absl::UnavailableError(absl::StrCat(
        channels_.size() > 1 ? "no etcd endpoint answered; last: " : "", status.message()));
  }
  return status;
}

template <typename Response, typename Call>
absl::StatusOr<Response> EtcdClient::Unary(Call call) {
  Response response;
  absl::Status s = OnSomeEndpoint([&](Endpoint& e, grpc::ClientContext* context) {
    response.Clear();
    return call(e, context, &response);
  });
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<etcdserverpb::TxnResponse> EtcdClient::Txn(
    const etcdserverpb::TxnRequest& request) {
  return Unary<etcdserverpb::TxnResponse>(
      [&](Endpoint& e, grpc::ClientContext* context, etcdserverpb::TxnResponse* response) {
        return e.kv->Txn(context, request, response);
      });
}

absl::StatusOr<etcdserverpb::RangeResponse> EtcdClient::Range(
    const etcdserverpb::RangeRequest& request) {
  return Unary<etcdserverpb::RangeResponse>(
      [&](Endpoint& e, grpc::ClientContext* context, etcdserverpb::RangeResponse* response) {
        return e.kv->Range(context, request, response);
      });
}

absl::StatusOr<etcdserverpb::LeaseGrantResponse> EtcdClient::LeaseGrant(
    const etcdserverpb::LeaseGrantRequest& request) {
  return Unary<etcdserverpb::LeaseGrantResponse>(
      [&](Endpoint& e, grpc::ClientContext* context, etcdserverpb::LeaseGrantResponse* response) {
        return e.lease->LeaseGrant(context, request, response);
      });
}

absl::StatusOr<etcdserverpb::LeaseRevokeResponse> EtcdClient::LeaseRevoke(
    const etcdserverpb::LeaseRevokeRequest& request) {
  return Unary<etcdserverpb::LeaseRevokeResponse>(
      [&](Endpoint& e, grpc::ClientContext* context, etcdserverpb::LeaseRevokeResponse* response) {
        return e.lease->LeaseRevoke(context, request, response);
      });
}

absl::StatusOr<int64_t> EtcdClient::LeaseKeepAliveOnce(int64_t lease) {
  etcdserverpb::LeaseKeepAliveResponse response;
  absl::Status s = OnSomeEndpoint([&](Endpoint& e, grpc::ClientContext* context) {
    response.Clear();
    std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::LeaseKeepAliveRequest,
                                             etcdserverpb::LeaseKeepAliveResponse>>
        stream = e.lease->LeaseKeepAlive(context);
    etcdserverpb::LeaseKeepAliveRequest request;
    request.set_id(lease);
    if (stream->Write(request) && stream->Read(&response)) {
      // etcd keeps the stream open: end it. A read answer is the result; the cancel
      // that ended the stream is not an error.
      context->TryCancel();
      stream->Finish().IgnoreError();
      if (response.id() == lease) return grpc::Status::OK;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "no keepalive answer");
    }
    // The stream broke (an unreachable member): Finish says why, as UNAVAILABLE, so
    // that the next endpoint is tried. (Cancelled first, it would say CANCELLED, and
    // the keepalive would stay on the dead member.)
    grpc::Status status = stream->Finish();
    return status.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "no keepalive answer")
                       : status;
  });
  if (!s.ok()) return s;
  return response.ttl();
}

absl::StatusOr<etcdserverpb::StatusResponse> EtcdClient::Status(const std::string& endpoint) {
  for (Endpoint& e : channels_) {
    if (e.address != endpoint) continue;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + call_timeout_));
    etcdserverpb::StatusResponse response;
    grpc::Status status = e.maintenance->Status(&context, etcdserverpb::StatusRequest(), &response);
    if (!status.ok()) return EtcdStatus(e.address, status);
    return response;
  }
  return absl::NotFoundError(absl::StrCat("'", endpoint, "' is not one of the etcd endpoints"));
}

}  // namespace semaphored::store
