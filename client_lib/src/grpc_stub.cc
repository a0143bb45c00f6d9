// GrpcStub: the library's transport over a gRPC channel (plain or TLS).

#include "grpc_stub.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc_session_stream.h"
#include "common/wire_status.h"

namespace semaphored::internal {

namespace v1 = ::semaphored::v1;

namespace {

std::chrono::system_clock::time_point ChronoDeadline(absl::Duration timeout) {
  return absl::ToChronoTime(absl::Now() + timeout);
}

void SetDeadline(grpc::ClientContext& context, absl::Duration timeout) {
  context.set_deadline(ChronoDeadline(timeout));
}

absl::StatusOr<std::string> ReadPemFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in || in.bad()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot read the ", what, " file \"", path, "\": ", std::strerror(errno)));
  }
  return text.str();
}

}  // namespace

GrpcStub::GrpcStub(std::shared_ptr<grpc::Channel> channel)
    : channel_(std::move(channel)), stub_(v1::SemaphoreService::NewStub(channel_)) {}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFor(
    const ClientOptions& options) {
  const bool any_file = !options.tls_ca_file.empty() || !options.tls_cert_file.empty() ||
                        !options.tls_key_file.empty();
  if (!options.tls) {
    if (any_file) {
      return absl::InvalidArgumentError(
          "TLS files are given but TLS is off; set ClientOptions::tls");
    }
    return grpc::InsecureChannelCredentials();
  }
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "a TLS client certificate needs both a certificate and a key file");
  }
  grpc::SslCredentialsOptions ssl;
  if (!options.tls_ca_file.empty()) {
    auto ca = ReadPemFile(options.tls_ca_file, "TLS CA");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
  }
  if (!options.tls_cert_file.empty()) {
    auto cert = ReadPemFile(options.tls_cert_file, "TLS certificate");
    if (!cert.ok()) return cert.status();
    auto key = ReadPemFile(options.tls_key_file, "TLS key");
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *std::move(cert);
    ssl.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(ssl);
}

std::shared_ptr<GrpcStub> GrpcStub::Create(
    const std::string& address, std::shared_ptr<grpc::ChannelCredentials> credentials) {
  grpc::ChannelArguments args;
  // Reconnect quickly after a server restart (gRPC's default backoff reaches 2 min).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  return std::shared_ptr<GrpcStub>(
      new GrpcStub(grpc::CreateCustomChannel(address, std::move(credentials), args)));
}

absl::StatusOr<std::shared_ptr<GrpcStub>> GrpcStub::Connect(
    const std::string& address, absl::Duration timeout,
    std::shared_ptr<grpc::ChannelCredentials> credentials) {
  std::shared_ptr<GrpcStub> stub = Create(address, std::move(credentials));
  if (stub->channel_->WaitForConnected(ChronoDeadline(timeout))) return stub;

  // Why not: one fail-fast call reports gRPC's last connection error (refused,
  // unresolvable name...). It may also just succeed if the server came up now.
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(1));
  v1::PingResponse response;
  grpc::Status status = stub->stub_->Ping(&context, v1::PingRequest(), &response);
  if (status.ok()) return stub;
  std::string reason = status.error_message();
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED || reason.empty()) {
    reason = "no connection established";
  }
  return absl::UnavailableError(absl::StrCat("cannot connect to ", address, ": ", reason,
                                             " (waited ",
                                             absl::FormatDuration(timeout), ")"));
}

absl::StatusOr<v1::CreateSessionResponse> GrpcStub::CreateSession(
    const v1::CreateSessionRequest& request, absl::Duration timeout) {
  grpc::ClientContext context;
  SetDeadline(context, timeout);
  v1::CreateSessionResponse response;
  absl::Status status =
      FromGrpcStatus(stub_->CreateSession(&context, request, &response));
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::TestSemaphoreResponse> GrpcStub::TestSemaphore(
    const v1::TestSemaphoreRequest& request, absl::Duration timeout) {
  grpc::ClientContext context;
  SetDeadline(context, timeout);
  v1::TestSemaphoreResponse response;
  absl::Status status =
      FromGrpcStatus(stub_->TestSemaphore(&context, request, &response));
  if (!status.ok()) return status;
  return response;
}

absl::Status GrpcStub::Ping(absl::Duration timeout) {
  grpc::ClientContext context;
  SetDeadline(context, timeout);
  v1::PingResponse response;
  return FromGrpcStatus(stub_->Ping(&context, v1::PingRequest(), &response));
}

std::shared_ptr<ClientStream> GrpcStub::OpenStream(
    std::string secret, std::weak_ptr<ClientStreamObserver> observer) {
  return GrpcSessionStream::Start(stub_.get(), std::move(secret), std::move(observer));
}

}  // namespace semaphored::internal
