// Bad names are refused by the library itself (INVALID_ARGUMENT saying which rule is
// broken), through every entry point, before anything is sent to the server.

#include <memory>
#include <string>

#include "fake_stub.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "semaphored/semaphored.h"
#include "tests/common/status_matchers.h"

namespace semaphored {
namespace {

using ::semaphored::internal::testing::FakeClient;
using ::semaphored::internal::testing::FakeStub;
using ::semaphored::testing::StatusIs;
using ::testing::HasSubstr;

struct BadName {
  std::string label;
  std::string name;
  std::string says;  // part of the message
};

std::vector<BadName> BadNames() {
  return {
      {"empty", "", "empty"},
      {"256 bytes", std::string(256, 'n'), "255"},
      {"local, 256 bytes", "$" + std::string(255, 'n'), "255"},
      {"invalid UTF-8", "bad\xff", "UTF-8"},
      {"truncated UTF-8", "caf\xc3", "UTF-8"},
      {"newline", "a\nb", "control"},
      {"local with NUL", std::string("$a\0b", 4), "control"},
  };
}

TEST(ClientNamesTest, EveryCallRejectsBadNamesWithoutARoundTrip) {
  auto stub = std::make_shared<FakeStub>();
  auto client = FakeClient(stub);
  ASSERT_OK_AND_ASSIGN(auto session, client->OpenSession());
  auto stream = stub->last_stream();
  ASSERT_NE(stream, nullptr);
  const size_t commands_before = stream->sent().size();  // the opening refresh

  for (const BadName& bad : BadNames()) {
    SCOPED_TRACE(bad.label);
    const auto invalid = StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(bad.says));
    EXPECT_THAT(session->Acquire(bad.name), invalid);
    AcquireOptions wait;
    wait.timeout = absl::InfiniteDuration();
    EXPECT_THAT(session->Acquire(bad.name, wait), invalid);
    EXPECT_THAT(session->Set(bad.name), invalid);
    EXPECT_THAT(session->Clear(bad.name), invalid);
    EXPECT_THAT(session->Test(bad.name), invalid);
    EXPECT_THAT(session->WaitClear(bad.name, absl::Seconds(1)), invalid);
    EXPECT_THAT(client->Test(bad.name), invalid);
    absl::Status error;
    EXPECT_TRUE(Semaphore(*session, bad.name, 0, &error));
    EXPECT_THAT(error, invalid);
  }
  EXPECT_EQ(stream->sent().size(), commands_before);
  EXPECT_EQ(stub->test_calls(), 0);
}

TEST(ClientNamesTest, GoodNamesAtTheLimitsAreAccepted) {
  auto client = Client::Local();
  ASSERT_OK_AND_ASSIGN(auto session, client->OpenSession());
  for (const std::string& name :
       {std::string("$") + std::string(254, 'x'), std::string("$"),
        std::string("$caf\xc3\xa9 \xe2\x9c\x93"), std::string("$Case"),
        std::string("$case")}) {
    SCOPED_TRACE(name);
    ASSERT_OK_AND_ASSIGN(Permit permit, session->Acquire(name));
    EXPECT_TRUE(permit.acquired());  // names are case-sensitive: $Case != $case
  }
}

TEST(ClientNamesTest, BadClientNamesAreRejected) {
  auto client = Client::Local();
  SessionOptions options;
  options.client_name = "bad\x01name";
  EXPECT_THAT(client->OpenSession(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("client name")));
  ClientOptions connect;
  connect.address = "127.0.0.1:1";
  connect.client_name = std::string(300, 'c');
  EXPECT_THAT(Client::Connect(connect), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace semaphored
