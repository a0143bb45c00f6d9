#ifndef SEMAPHORED_SERVER_SERVICE_WIRE_H_
#define SEMAPHORED_SERVER_SERVICE_WIRE_H_

// Parsing requests ourselves, so that a request that does not parse gets a useful
// answer. gRPC's generated handlers answer a request that fails to parse with
// UNIMPLEMENTED and no message, and protobuf refuses proto3 `string` fields holding
// invalid UTF-8 — so a semaphore name that is not UTF-8 would never reach our
// validation. The services therefore take raw bytes and parse them here; a failure is
// explained (INVALID_ARGUMENT naming the field and rule, e.g. "semaphore name is not
// valid UTF-8 (bad byte sequence at offset 3)").
//
// Pure functions; safe on any input (the fuzzer feeds them arbitrary bytes).

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "grpcpp/support/byte_buffer.h"
#include "semaphored/v1/semaphore.pb.h"

namespace semaphored::server {

// The bytes of a received message.
std::string BufferBytes(const grpc::ByteBuffer& buffer);
// Serializes `message` into `out`, replacing its contents.
void SerializeToBuffer(const google::protobuf::Message& message, grpc::ByteBuffer* out);

// Parses `bytes` into `message` (cleared first). On failure returns
// ExplainParseFailure's status.
absl::Status ParseMessage(absl::string_view bytes, google::protobuf::Message* message);

// Says why `bytes` is not a valid message of `type` (never OK): the first string field
// (nested messages included) that is not valid UTF-8 — a semaphore `name` or
// `client_name` gets the name rules' INVALID_ARGUMENT message, a `session_secret` is
// UNAUTHENTICATED "malformed" — or else INVALID_ARGUMENT "not a valid <type>".
absl::Status ExplainParseFailure(absl::string_view bytes,
                                 const google::protobuf::Descriptor& type);

// A StreamSessionRequest parsed command by command, so that one malformed command
// does not take the others with it.
struct ParsedStreamRequest {
  // Every command in order; one that did not parse is present with only its
  // command_id (0 when unreadable) and no operation.
  v1::StreamSessionRequest request;
  // Set when session_secret was present but not valid UTF-8 (request's is empty).
  absl::Status secret_error;
  // Index in request.commands() -> why that command did not parse.
  absl::flat_hash_map<int, absl::Status> command_errors;
};
// INVALID_ARGUMENT when `bytes` is not a StreamSessionRequest at all.
absl::StatusOr<ParsedStreamRequest> ParseStreamRequest(absl::string_view bytes);

// How many `commands` a serialized StreamSessionRequest carries, counted by skipping
// over the fields without building anything (so a message of a million empty commands
// can be refused before it costs memory). Whenever ParseStreamRequest(bytes) succeeds,
// equals its request.commands_size(); on malformed input, counts the commands before
// the first field that does not parse.
int64_t CountStreamCommands(absl::string_view bytes);

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_SERVICE_WIRE_H_
