// Admin commands (AdminService) and health (grpc.health.v1), over a gRPC channel of
// their own. Admin commands use the server's admin socket when there is one on this
// machine (no token needed: the server checks our uid), else TCP with the same TLS
// options as the client library and the bearer token.
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "commands.h"
#include "common/local_admin.h"
#include "common/server_role.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc_stub.h"
#include "grpcpp/grpcpp.h"
#include "semaphored/v1/admin.grpc.pb.h"
#include "common/wire_status.h"

namespace semaphored::semctl {

namespace {

namespace v1 = ::semaphored::v1;

// Bounds each admin call.
constexpr absl::Duration kCallTimeout = absl::Seconds(30);

// A connected channel, or exit code 3 "cannot connect".
absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(const Options& o) {
  ClientOptions options;
  options.tls = o.tls || !o.tls_ca.empty() || !o.tls_cert.empty() || !o.tls_key.empty();
  options.tls_ca_file = o.tls_ca;
  options.tls_cert_file = o.tls_cert;
  options.tls_key_file = o.tls_key;
  auto credentials = internal::ChannelCredentialsFor(options);
  if (!credentials.ok()) return credentials.status();
  auto channel = grpc::CreateChannel(o.server, *credentials);
  if (!channel->WaitForConnected(absl::ToChronoTime(absl::Now() + o.timeout))) {
    return absl::UnavailableError(absl::StrCat("cannot connect to ", o.server, " (waited ",
                                               absl::FormatDuration(o.timeout), ")"));
  }
  return channel;
}

// The admin socket to use, or empty for TCP: --admin_socket's path, else (auto) the
// server's default socket for the port of --server when --server names this
// machine's loopback and the socket exists. `explicit_path` says whether the user
// named it (then failing to connect is an error, not a reason to try TCP).
std::string AdminSocketPath(const Options& o, bool* explicit_path) {
  *explicit_path = false;
  if (o.admin_socket == "off") return "";
  if (!o.admin_socket.empty() && o.admin_socket != "auto") {
    *explicit_path = true;
    return o.admin_socket;
  }
  const size_t colon = o.server.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(o.server.substr(colon + 1), &port) ||
      port <= 0 || !internal::IsLoopbackHost(o.server.substr(0, colon))) {
    return "";
  }
  const std::string path = internal::DefaultAdminSocketPath(port);
  struct stat st {};
  if (stat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return "";
  return path;
}

// A connected channel for the admin service: the admin socket (see AdminSocketPath),
// else TCP. `*via_socket` says which.
absl::StatusOr<std::shared_ptr<grpc::Channel>> ConnectAdmin(const Options& o,
                                                            bool* via_socket) {
  bool explicit_path = false;
  const std::string path = AdminSocketPath(o, &explicit_path);
  *via_socket = false;
  if (!path.empty()) {
    auto channel =
        grpc::CreateChannel(absl::StrCat("unix:", path), grpc::InsecureChannelCredentials());
    if (channel->WaitForConnected(absl::ToChronoTime(absl::Now() + o.timeout))) {
      *via_socket = true;
      return channel;
    }
    if (explicit_path) {
      return absl::UnavailableError(absl::StrCat(
          "cannot connect to the admin socket ", path, " (waited ",
          absl::FormatDuration(o.timeout),
          "); is the server running, and are you root or the server's user?"));
    }
    // A socket left by a server that is gone: the TCP address may still answer.
  }
  return Connect(o);
}

void Prepare(grpc::ClientContext& context, const Options& o, bool via_socket) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + kCallTimeout));
  // Over the admin socket the server knows who we are; the token stays with us.
  if (!via_socket && !o.admin_token.empty()) {
    context.AddMetadata("authorization", absl::StrCat("Bearer ", o.admin_token));
  }
}

int FailGrpc(const grpc::Status& status) {
  return FailWith(internal::FromGrpcStatus(status));
}

std::string ToJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

std::string Time(const google::protobuf::Timestamp& t) {
  return google::protobuf::util::TimeUtil::ToString(t);
}

// The semaphore names, holders and waiters as text.
void PrintSemaphores(const v1::ListSemaphoresResponse& all) {
  if (all.semaphores().empty()) std::printf("no semaphores\n");
  for (const v1::SemaphoreDetail& s : all.semaphores()) {
    const v1::SemaphoreState& st = s.state();
    std::printf("%s: %d/%d permits held, %d waiting\n", st.name().c_str(),
                st.permits_held(), st.limit(), s.waiters_size());
    for (const v1::Holder& h : st.holders()) {
      std::printf("  holder %s (session %s) since %s, %d permit(s), fencing token %llu\n",
                  h.client_name().c_str(), h.session_id().c_str(),
                  Time(h.grant().grant_time()).c_str(), h.grant().permits(),
                  static_cast<unsigned long long>(h.grant().fencing_token()));
    }
    for (const v1::Waiter& w : s.waiters()) {
      std::printf("  waiter %s (session %s) since %s, %d permit(s)\n",
                  w.client_name().c_str(), w.session_id().c_str(),
                  Time(w.enqueue_time()).c_str(), w.permits());
    }
  }
}

const char* RoleName(v1::ServerRole role) {
  switch (role) {
    case v1::SERVER_ROLE_LEADER: return "leader";
    case v1::SERVER_ROLE_STANDBY: return "standby";
    default: return "?";
  }
}

// Rows of cells as a table: each column as wide as its widest cell, two spaces
// between columns, the last column not padded.
void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size());
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  }
}

// GetCluster as text: the mode and leader, the servers, the etcd endpoints.
void PrintCluster(const v1::GetClusterResponse& cluster) {
  if (cluster.mode() == v1::CLUSTER_MODE_SINGLE_SERVER) {
    std::printf("single server, no etcd (answered by %s)\n", cluster.answered_by().c_str());
  } else {
    std::printf("leader: %s (answered by %s)\n",
                cluster.leader_address().empty() ? "none" : cluster.leader_address().c_str(),
                cluster.answered_by().c_str());
  }
  if (!cluster.etcd_error().empty()) {
    std::printf("etcd could not be read: %s\n", cluster.etcd_error().c_str());
  }
  std::vector<std::vector<std::string>> servers = {{"SERVER", "ROLE", "STARTED"}};
  for (const v1::ClusterServer& s : cluster.servers()) {
    servers.push_back({s.address(), RoleName(s.role()),
                       s.has_start_time() ? Time(s.start_time()) : "-"});
  }
  PrintTable(servers);
  if (cluster.etcd_endpoints().empty()) return;
  std::printf("\n");
  std::vector<std::vector<std::string>> endpoints = {
      {"ETCD ENDPOINT", "HEALTH", "MEMBER", "RAFT", "VERSION", "DB SIZE", "ERROR"}};
  for (const v1::EtcdEndpoint& e : cluster.etcd_endpoints()) {
    if (!e.reachable()) {
      endpoints.push_back({e.endpoint(), "unreachable", "-", "-", "-", "-", e.error()});
      continue;
    }
    endpoints.push_back({e.endpoint(), e.error().empty() ? "healthy" : "degraded",
                         e.member_id(), e.raft_leader() ? "leader" : "follower", e.version(),
                         absl::StrCat(e.db_size_bytes()), e.error().empty() ? "-" : e.error()});
  }
  PrintTable(endpoints);
}

// Pages are followed up to this many, so a server that keeps answering a token
// cannot loop semctl forever.
constexpr int kMaxPages = 100000;

}  // namespace

int ListCommand(const Options& o) {
  if (!o.args.empty()) return Fail(kUsage, "`list` takes no NAME (use --prefix)");
  bool via_socket = false;
  auto channel = ConnectAdmin(o, &via_socket);
  if (!channel.ok()) return FailWith(channel.status());
  auto stub = v1::AdminService::NewStub(*channel);
  v1::ListSemaphoresResponse all;
  std::string token;
  for (int page = 0; page < kMaxPages; ++page) {
    v1::ListSemaphoresRequest request;
    request.set_prefix(o.prefix);
    request.set_page_size(o.page_size);
    request.set_page_token(token);
    v1::ListSemaphoresResponse response;
    grpc::ClientContext context;
    Prepare(context, o, via_socket);
    grpc::Status status = stub->ListSemaphores(&context, request, &response);
    if (!status.ok()) return FailGrpc(status);
    for (auto& s : *response.mutable_semaphores()) *all.add_semaphores() = std::move(s);
    token = response.next_page_token();
    if (token.empty()) break;
  }
  if (o.json) {
    std::printf("%s\n", ToJson(all).c_str());
  } else {
    PrintSemaphores(all);
  }
  return kOk;
}

int SessionsCommand(const Options& o) {
  if (!o.args.empty()) return Fail(kUsage, "`sessions` takes no arguments");
  bool via_socket = false;
  auto channel = ConnectAdmin(o, &via_socket);
  if (!channel.ok()) return FailWith(channel.status());
  auto stub = v1::AdminService::NewStub(*channel);
  v1::ListSessionsResponse all;
  std::string token;
  for (int page = 0; page < kMaxPages; ++page) {
    v1::ListSessionsRequest request;
    request.set_page_size(o.page_size);
    request.set_page_token(token);
    v1::ListSessionsResponse response;
    grpc::ClientContext context;
    Prepare(context, o, via_socket);
    grpc::Status status = stub->ListSessions(&context, request, &response);
    if (!status.ok()) return FailGrpc(status);
    for (auto& s : *response.mutable_sessions()) *all.add_sessions() = std::move(s);
    token = response.next_page_token();
    if (token.empty()) break;
  }
  if (o.json) {
    std::printf("%s\n", ToJson(all).c_str());
    return kOk;
  }
  if (all.sessions().empty()) std::printf("no sessions\n");
  for (const v1::SessionInfo& s : all.sessions()) {
    std::printf("%s %s peer=%s created=%s expires=%s held=%d waiting=%d\n",
                s.session_id().c_str(), s.client_name().c_str(), s.peer().c_str(),
                Time(s.create_time()).c_str(), Time(s.expire_time()).c_str(),
                s.held_count(), s.waiting_count());
  }
  return kOk;
}

int ForceClearCommand(const Options& o) {
  if (o.args.size() != 1) return Fail(kUsage, "usage: semctl force-clear NAME --reason R");
  if (o.reason.empty()) return Fail(kUsage, "force-clear needs --reason R (it is logged and told to the holder)");
  bool via_socket = false;
  auto channel = ConnectAdmin(o, &via_socket);
  if (!channel.ok()) return FailWith(channel.status());
  v1::ForceClearSemaphoreRequest request;
  request.set_name(o.args[0]);
  request.set_reason(o.reason);
  v1::ForceClearSemaphoreResponse response;
  grpc::ClientContext context;
  Prepare(context, o, via_socket);
  grpc::Status status =
      v1::AdminService::NewStub(*channel)->ForceClearSemaphore(&context, request, &response);
  if (!status.ok()) return FailGrpc(status);
  if (o.json) {
    std::printf("%s\n", ToJson(response).c_str());
    return kOk;
  }
  for (const v1::Holder& h : response.revoked()) {
    std::printf("revoked %s from %s (session %s), %d permit(s)\n", o.args[0].c_str(),
                h.client_name().c_str(), h.session_id().c_str(), h.grant().permits());
  }
  return kOk;
}

int DrainCommand(const Options& o) {
  if (!o.args.empty()) return Fail(kUsage, "usage: semctl drain [--reason R]");
  bool via_socket = false;
  auto channel = ConnectAdmin(o, &via_socket);
  if (!channel.ok()) return FailWith(channel.status());
  v1::DrainRequest request;
  request.set_reason(o.reason);
  v1::DrainResponse response;
  grpc::ClientContext context;
  Prepare(context, o, via_socket);
  grpc::Status status = v1::AdminService::NewStub(*channel)->Drain(&context, request, &response);
  if (!status.ok()) return FailGrpc(status);
  if (o.json) {
    std::printf("%s\n", ToJson(response).c_str());
  } else {
    std::printf("draining: woke %d waiter(s), ended %d session(s)\n",
                response.woken_waiters(), response.ended_sessions());
  }
  return kOk;
}

int ClusterCommand(const Options& o) {
  if (!o.args.empty()) return Fail(kUsage, "`cluster` takes no arguments");
  bool via_socket = false;
  auto channel = ConnectAdmin(o, &via_socket);
  if (!channel.ok()) return FailWith(channel.status());
  v1::GetClusterResponse response;
  grpc::ClientContext context;
  Prepare(context, o, via_socket);
  grpc::Status status =
      v1::AdminService::NewStub(*channel)->GetCluster(&context, {}, &response);
  if (!status.ok()) return FailGrpc(status);
  if (o.json) {
    std::printf("%s\n", ToJson(response).c_str());
  } else {
    PrintCluster(response);
  }
  return kOk;
}

int HealthCommand(const Options& o) {
  if (!o.args.empty()) return Fail(kUsage, "`health` takes no arguments");
  auto channel = Connect(o);
  if (!channel.ok()) return FailWith(channel.status());
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + o.timeout));
  grpc::Status status =
      grpc::health::v1::Health::NewStub(*channel)->Check(&context, request, &response);
  if (!status.ok()) return FailGrpc(status);
  const std::string name =
      grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
  // The role, from the answer's trailing metadata (none from an older server).
  const auto& trailers = context.GetServerTrailingMetadata();
  auto trailer = [&](const char* key) {
    auto it = trailers.find(key);
    return it == trailers.end() ? std::string()
                                : std::string(it->second.data(), it->second.size());
  };
  const std::string role = trailer(internal::kRoleMetadataKey);
  const std::string leader = trailer(internal::kLeaderMetadataKey);
  const std::string etcd_error = trailer(internal::kEtcdErrorMetadataKey);
  if (o.json) {
    std::string json = absl::StrCat("{\"status\":", JsonString(name));
    if (!role.empty()) absl::StrAppend(&json, ",\"role\":", JsonString(role));
    if (!leader.empty()) absl::StrAppend(&json, ",\"leader\":", JsonString(leader));
    if (!etcd_error.empty()) {
      absl::StrAppend(&json, ",\"etcd_error\":", JsonString(etcd_error));
    }
    std::printf("%s}\n", json.c_str());
  } else {
    std::string text = name;
    if (!etcd_error.empty()) {
      absl::StrAppend(&text, " etcd unreachable: ", etcd_error);
    } else if (role == internal::kRoleStandby) {
      absl::StrAppend(&text, " standby (",
                      leader.empty() ? "no leader yet" : absl::StrCat("leader at ", leader),
                      ")");
    } else if (role == internal::kRoleSingle) {
      absl::StrAppend(&text, " single server (no etcd)");
    } else if (!role.empty()) {
      absl::StrAppend(&text, " ", role);
    }
    std::printf("%s\n", text.c_str());
  }
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING ? kOk
                                                                             : kNotAcquired;
}

}  // namespace semaphored::semctl
