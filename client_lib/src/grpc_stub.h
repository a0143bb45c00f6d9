#ifndef SEMAPHORED_CLIENT_LIB_SRC_GRPC_STUB_H_
#define SEMAPHORED_CLIENT_LIB_SRC_GRPC_STUB_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "semaphored/client.h"
#include "semaphored/v1/semaphore.grpc.pb.h"
#include "stub.h"

namespace semaphored::internal {

// The channel credentials ClientOptions ask for: insecure without `tls`, else SSL
// credentials from the PEM files. INVALID_ARGUMENT when a file cannot be read, when
// TLS files are given without `tls`, or when only one of cert/key is given.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFor(
    const ClientOptions& options);

// The Stub over a gRPC channel. Thread-safe.
class GrpcStub final : public Stub {
 public:
  // Creates the channel to `address` with `credentials` and waits up to `timeout`
  // for it to connect. UNAVAILABLE "cannot connect to ADDRESS: <reason>" when it
  // does not.
  static absl::StatusOr<std::shared_ptr<GrpcStub>> Connect(
      const std::string& address, absl::Duration timeout,
      std::shared_ptr<grpc::ChannelCredentials> credentials);
  // Creates the channel without waiting: it connects on first use.
  static std::shared_ptr<GrpcStub> Create(const std::string& address,
                                          std::shared_ptr<grpc::ChannelCredentials> credentials);

  absl::StatusOr<semaphored::v1::CreateSessionResponse> CreateSession(
      const semaphored::v1::CreateSessionRequest& request,
      absl::Duration timeout) override;
  absl::StatusOr<semaphored::v1::TestSemaphoreResponse> TestSemaphore(
      const semaphored::v1::TestSemaphoreRequest& request,
      absl::Duration timeout) override;
  absl::Status Ping(absl::Duration timeout) override;
  std::shared_ptr<ClientStream> OpenStream(
      std::string secret, std::weak_ptr<ClientStreamObserver> observer) override;

 private:
  explicit GrpcStub(std::shared_ptr<grpc::Channel> channel);

  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<semaphored::v1::SemaphoreService::Stub> stub_;
};

}  // namespace semaphored::internal

#endif  // SEMAPHORED_CLIENT_LIB_SRC_GRPC_STUB_H_
