// Connection: what a Client is made of; its unary Test and Ping, retried.

#include "connection.h"

#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "convert.h"
#include "errors_internal.h"

namespace semaphored::internal {

std::string DefaultClientName() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return absl::StrCat(host[0] != '\0' ? host : "localhost", "/", getpid());
}

Connection::Connection(ClientOptions options, std::shared_ptr<Stub> stub,
                       LocalCore local)
    : options_(std::move(options)), stub_(std::move(stub)), local_(local) {}

Connection::~Connection() = default;

absl::StatusOr<SemaphoreInfo> Connection::Test(absl::string_view name) {
  if (absl::Status s = ValidateName(name); !s.ok()) return s;
  if (IsLocalName(name)) return InfoFromSnapshot(local_.core->Test(name), name);
  if (stub_ == nullptr) return NoServerError(name);
  semaphored::v1::TestSemaphoreRequest request;
  request.set_name(std::string(name));
  auto response = RetryIdempotent<semaphored::v1::TestSemaphoreResponse>(
      retry_, [&] { return stub_->TestSemaphore(request, options_.call_timeout); });
  if (!response.ok()) return response.status();
  return InfoFromProto(response->state(), name);
}

absl::Status Connection::Ping() {
  if (stub_ == nullptr) return absl::OkStatus();
  return RetryIdempotent<bool>(retry_,
                               [&]() -> absl::StatusOr<bool> {
                                 absl::Status s = stub_->Ping(options_.call_timeout);
                                 if (!s.ok()) return s;
                                 return true;
                               })
      .status();
}

}  // namespace semaphored::internal
