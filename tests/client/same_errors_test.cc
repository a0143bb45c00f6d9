// Bad set, wait-for-clear and session arguments get the same answer whoever serves
// them: the library's in-process engine for a '$' name, the server for a global name
// (each table row is sent to both, and the code and message must be equal once the
// quoted name is replaced). A real server on an ephemeral loopback port; a real
// library Client connected to it.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/duration.pb.h"
#include "gtest/gtest.h"
#include "semaphored/semaphored.h"
#include "common/limits.h"
#include "common/names.h"
#include "tests/common/status_matchers.h"
#include "tests/server/test_server.h"

namespace semaphored {
namespace {

using internal::kMaxLimit;
using internal::QuoteName;
using server::testing::Ctx;
using server::testing::TestServer;
using ::semaphored::testing::IsOk;

// The status with `name`, quoted as messages quote it, replaced by a placeholder.
absl::Status WithoutName(const absl::Status& status, const std::string& name) {
  return absl::Status(status.code(),
                      absl::StrReplaceAll(status.message(), {{QuoteName(name), "NAME"}}));
}

AcquireOptions Options(std::optional<int32_t> limit, int32_t permits,
                       absl::Duration timeout = absl::ZeroDuration()) {
  AcquireOptions options;
  options.limit = limit;
  options.permits = permits;
  options.timeout = timeout;
  return options;
}

class SameErrorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The server's default TTL range (1s to 1h): the TTL rows test its bounds.
    server_ = std::make_unique<TestServer>(engine::CoreOptions());
    ClientOptions options;
    options.address = server_->server().address();
    options.client_name = "same-errors";
    auto client = Client::Connect(options);
    ASSERT_THAT(client, IsOk());
    client_ = *std::move(client);
    auto session = client_->OpenSession();
    ASSERT_THAT(session, IsOk());
    session_ = *std::move(session);
  }
  void TearDown() override {
    session_.reset();
    client_.reset();
    server_.reset();
  }

  std::unique_ptr<TestServer> server_;
  std::unique_ptr<Client> client_;
  std::unique_ptr<Session> session_;
};

TEST_F(SameErrorsTest, BadSetAndWaitArgumentsGetOneAnswerForLocalAndGlobalNames) {
  struct Case {
    std::string label;
    std::function<absl::Status(Session&, const std::string& name)> call;
  };
  auto set = [](AcquireOptions options) {
    return [options](Session& session, const std::string& name) {
      return session.Set(name, options).status();
    };
  };
  auto wait_clear = [](absl::Duration timeout) {
    return [timeout](Session& session, const std::string& name) {
      return session.WaitClear(name, timeout).status();
    };
  };
  const std::vector<Case> cases = {
      {"zero permits", set(Options(std::nullopt, 0))},
      {"negative permits", set(Options(std::nullopt, -1))},
      {"permits over the maximum", set(Options(std::nullopt, kMaxLimit + 1))},
      {"permits over the given limit", set(Options(2, 3))},
      {"permits over the default limit", set(Options(std::nullopt, 2))},
      {"zero limit", set(Options(0, 1))},
      {"negative limit", set(Options(-1, 1))},
      {"limit over the maximum", set(Options(kMaxLimit + 1, 1))},
      {"negative timeout", set(Options(std::nullopt, 1, absl::Seconds(-1)))},
      {"timeout over the maximum", set(Options(std::nullopt, 1, absl::Hours(25)))},
      {"wait-for-clear: negative timeout", wait_clear(absl::Seconds(-1))},
      {"wait-for-clear: timeout over the maximum", wait_clear(absl::Hours(25))},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    const absl::Status local = c.call(*session_, "$same");
    const absl::Status global = c.call(*session_, "same");
    EXPECT_EQ(local.code(), absl::StatusCode::kInvalidArgument) << local;
    EXPECT_EQ(WithoutName(local, "$same"), WithoutName(global, "same"))
        << "'$' name: " << local << "\nglobal name: " << global;
  }
}

// A session's TTL has no name to be local or global: the library's answer is compared
// with the server's answer to the same CreateSession.
TEST_F(SameErrorsTest, BadSessionTtlsGetTheServersAnswerFromTheLibrary) {
  const std::vector<absl::Duration> ttls = {absl::Seconds(-1), absl::Milliseconds(10),
                                            absl::Hours(2)};
  std::unique_ptr<v1::SemaphoreService::Stub> stub = server_->NewStub();
  for (absl::Duration ttl : ttls) {
    SCOPED_TRACE(absl::FormatDuration(ttl));
    SessionOptions options;
    options.ttl = ttl;
    const absl::Status library = client_->OpenSession(options).status();
    v1::CreateSessionRequest request;
    request.mutable_ttl()->set_seconds(absl::ToInt64Seconds(ttl));
    request.mutable_ttl()->set_nanos(static_cast<int32_t>(
        absl::ToInt64Nanoseconds(ttl - absl::Seconds(absl::ToInt64Seconds(ttl)))));
    v1::CreateSessionResponse response;
    const grpc::Status server = stub->CreateSession(Ctx().get(), request, &response);
    EXPECT_EQ(library.code(), absl::StatusCode::kInvalidArgument) << library;
    EXPECT_EQ(library,
              absl::Status(static_cast<absl::StatusCode>(server.error_code()),
                           server.error_message()))
        << "library: " << library << "\nserver: " << server.error_message();
  }
}

}  // namespace
}  // namespace semaphored
