// Client: connects to a server (or none) and opens sessions.

#include "semaphored/client.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/names.h"
#include "client_access.h"
#include "connection.h"
#include "grpc_stub.h"
#include "leader_stub.h"
#include "session_router.h"

namespace semaphored {

Client::Client(std::shared_ptr<internal::Connection> connection)
    : connection_(std::move(connection)) {}

Client::~Client() = default;

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(ClientOptions options) {
  if (options.address.empty()) {
    return absl::InvalidArgumentError(
        "the server address is empty; give \"host:port\", or use Client::Local() "
        "for '$' semaphores only");
  }
  if (absl::Status s = internal::ValidateClientName(options.client_name); !s.ok()) {
    return s;
  }
  if (options.connect_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "connect_timeout must be positive (got ",
        absl::FormatDuration(options.connect_timeout), ")"));
  }
  auto credentials = internal::ChannelCredentialsFor(options);
  if (!credentials.ok()) return credentials.status();
  std::shared_ptr<internal::Stub> stub;
  const std::vector<std::string> addresses =
      absl::StrSplit(options.address, ',', absl::SkipWhitespace());
  if (addresses.size() > 1) {
    // Several servers sharing one etcd: follow the leader.
    auto leader = internal::LeaderStub::Connect(addresses, options.connect_timeout,
                                                *std::move(credentials));
    if (!leader.ok()) return leader.status();
    stub = *std::move(leader);
  } else {
    auto one = internal::GrpcStub::Connect(options.address, options.connect_timeout,
                                           *std::move(credentials));
    if (!one.ok()) return one.status();
    stub = *std::move(one);
  }
  return internal::ClientAccess::Make(std::make_shared<internal::Connection>(
      std::move(options), std::move(stub), internal::ProcessLocalCore()));
}

std::unique_ptr<Client> Client::Local(ClientOptions options) {
  options.address.clear();
  return internal::ClientAccess::Make(std::make_shared<internal::Connection>(
      std::move(options), nullptr, internal::ProcessLocalCore()));
}

absl::StatusOr<std::unique_ptr<Session>> Client::OpenSession(SessionOptions options) {
  auto impl = internal::SessionRouter::Open(connection_, std::move(options));
  if (!impl.ok()) return impl.status();
  return std::unique_ptr<Session>(new Session(*std::move(impl)));
}

absl::StatusOr<SemaphoreInfo> Client::Test(std::string_view name) {
  return connection_->Test(absl::string_view(name.data(), name.size()));
}

absl::Status Client::Ping() { return connection_->Ping(); }

const std::string& Client::address() const { return connection_->options().address; }

}  // namespace semaphored
