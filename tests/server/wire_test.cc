// Tests of the server's own request parsing: invalid UTF-8, bad commands and secrets, buffers.

#include "server/service/wire.h"

#include <cstdint>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/status_matchers.h"

namespace semaphored::server {
namespace {

using ::semaphored::testing::IsOk;
using ::semaphored::testing::StatusIs;
using ::testing::HasSubstr;

// Serializes a message whose string fields may hold invalid UTF-8: protobuf logs an
// error but writes the bytes, as a careless client would.
template <typename M>
std::string Bytes(const M& message) {
  std::string out;
  EXPECT_TRUE(message.SerializeToString(&out));
  return out;
}

TEST(WireTest, ValidMessagesParse) {
  v1::SetSemaphoreRequest request;
  request.set_name("printer");
  request.set_limit(3);
  v1::SetSemaphoreRequest parsed;
  ASSERT_THAT(ParseMessage(Bytes(request), &parsed), IsOk());
  EXPECT_EQ(parsed.name(), "printer");
  EXPECT_EQ(parsed.limit(), 3);
  ASSERT_THAT(ParseMessage("", &parsed), IsOk());  // the empty message
  EXPECT_EQ(parsed.name(), "");
}

TEST(WireTest, InvalidUtf8FieldsAreNamed) {
  struct Case {
    std::string label;
    std::string bytes;
    const google::protobuf::Descriptor* type;
    absl::StatusCode code;
    std::string message;
  };
  v1::SetSemaphoreRequest set;
  set.set_name("ab\xff");
  v1::CreateSessionRequest create;
  create.set_client_name("\xc3");
  v1::ClearSemaphoreRequest clear;
  clear.set_name("ok");
  clear.set_session_secret("\xfe\xfe");
  v1::SessionCommand command;
  command.set_command_id(4);
  command.mutable_wait_clear()->set_name("x\x80y");
  const std::vector<Case> cases = {
      {"set name", Bytes(set), v1::SetSemaphoreRequest::descriptor(),
       absl::StatusCode::kInvalidArgument, "semaphore name is not valid UTF-8"},
      {"client name", Bytes(create), v1::CreateSessionRequest::descriptor(),
       absl::StatusCode::kInvalidArgument, "client name is not valid UTF-8"},
      {"secret", Bytes(clear), v1::ClearSemaphoreRequest::descriptor(),
       absl::StatusCode::kUnauthenticated, "malformed"},
      {"nested name", Bytes(command), v1::SessionCommand::descriptor(),
       absl::StatusCode::kInvalidArgument, "offset 1"},
      {"garbage", "\xff\xff\xff", v1::SetSemaphoreRequest::descriptor(),
       absl::StatusCode::kInvalidArgument,
       "not a valid semaphored.v1.SetSemaphoreRequest"},
      {"truncated", Bytes(set).substr(0, 3), v1::SetSemaphoreRequest::descriptor(),
       absl::StatusCode::kInvalidArgument, "malformed protobuf"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    EXPECT_THAT(ExplainParseFailure(c.bytes, *c.type),
                StatusIs(c.code, HasSubstr(c.message)));
  }
  v1::SetSemaphoreRequest parsed;
  EXPECT_THAT(ParseMessage(Bytes(set), &parsed),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("offset 2")));
}

TEST(WireTest, StreamRequestsKeepTheGoodCommandsOfABadMessage) {
  v1::StreamSessionRequest request;
  request.set_session_secret("0123456789abcdef0123456789abcdef");
  auto* first = request.add_commands();
  first->set_command_id(1);
  first->mutable_set()->set_name("good");
  auto* bad = request.add_commands();
  bad->set_command_id(2);
  bad->mutable_set()->set_name("bad\xff");
  auto* last = request.add_commands();
  last->set_command_id(3);
  last->mutable_ping();

  absl::StatusOr<ParsedStreamRequest> parsed = ParseStreamRequest(Bytes(request));
  ASSERT_THAT(parsed, IsOk());
  EXPECT_THAT(parsed->secret_error, IsOk());
  EXPECT_EQ(parsed->request.session_secret(), request.session_secret());
  ASSERT_EQ(parsed->request.commands_size(), 3);
  EXPECT_EQ(parsed->request.commands(0).set().name(), "good");
  EXPECT_EQ(parsed->request.commands(1).command_id(), 2u);
  EXPECT_EQ(parsed->request.commands(1).command_case(),
            v1::SessionCommand::COMMAND_NOT_SET);
  EXPECT_TRUE(parsed->request.commands(2).has_ping());
  ASSERT_EQ(parsed->command_errors.size(), 1u);
  EXPECT_THAT(parsed->command_errors.at(1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("UTF-8")));
}

TEST(WireTest, StreamRequestWithABadSecret) {
  v1::StreamSessionRequest request;
  request.set_session_secret("\xff");
  request.add_commands()->set_command_id(1);
  absl::StatusOr<ParsedStreamRequest> parsed = ParseStreamRequest(Bytes(request));
  ASSERT_THAT(parsed, IsOk());
  EXPECT_THAT(parsed->secret_error, StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(parsed->request.session_secret(), "");
  EXPECT_EQ(parsed->request.commands_size(), 1);

  EXPECT_THAT(ParseStreamRequest("\x0a\xff"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(WireTest, CommandsAreCountedWithoutParsingThem) {
  v1::StreamSessionRequest request;
  request.set_session_secret("0123456789abcdef0123456789abcdef");
  for (int i = 1; i <= 70; ++i) {
    auto* command = request.add_commands();
    command->set_command_id(i);
    command->mutable_test()->set_name(i == 5 ? "bad\xff" : "name");
  }
  const std::string whole = Bytes(request);
  const std::string one_command = Bytes(request.commands(0));
  struct Case {
    const char* what;
    std::string bytes;
    int64_t count;
  };
  const Case cases[] = {
      {"empty", "", 0},
      {"70 commands, one not UTF-8", whole, 70},
      {"secret only", std::string("\x0a\x01x", 3), 0},
      // A `commands` field that is a varint is an unknown field, not a command.
      {"wrong wire type", std::string("\x10\x05", 2) + "\x12" +
                              std::string(1, static_cast<char>(one_command.size())) +
                              one_command,
       1},
      {"truncated last command", whole.substr(0, whole.size() - 1), 69},
      {"malformed tag", std::string("\x12\x00\xff", 3), 1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    EXPECT_EQ(CountStreamCommands(c.bytes), c.count);
    absl::StatusOr<ParsedStreamRequest> parsed = ParseStreamRequest(c.bytes);
    if (parsed.ok()) {
      EXPECT_EQ(parsed->request.commands_size(), c.count);
    }
  }
}

TEST(WireTest, BuffersRoundTrip) {
  v1::SetSemaphoreResponse response;
  response.set_acquired(true);
  response.mutable_grant()->set_fencing_token(42);
  grpc::ByteBuffer buffer;
  SerializeToBuffer(response, &buffer);
  v1::SetSemaphoreResponse back;
  ASSERT_THAT(ParseMessage(BufferBytes(buffer), &back), IsOk());
  EXPECT_EQ(back.grant().fencing_token(), 42u);
  EXPECT_EQ(BufferBytes(grpc::ByteBuffer()), "");
}

}  // namespace
}  // namespace semaphored::server
