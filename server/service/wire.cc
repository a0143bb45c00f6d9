// Parsing raw request bytes ourselves, explaining the ones that do not parse.

#include "server/service/wire.h"

#include <climits>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/stubs/common.h"
#include "google/protobuf/unknown_field_set.h"
#include "google/protobuf/wire_format_lite.h"
#include "grpcpp/support/slice.h"
#include "server/service/convert.h"

namespace semaphored::server {

using ::semaphored::internal::ValidateClientName;
using ::semaphored::internal::ValidateName;
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;

// Nested messages are explored this deep at most (ours nest three levels).
constexpr int kMaxDepth = 8;

bool ParseUnknown(absl::string_view bytes, UnknownFieldSet* fields) {
  return bytes.size() <= static_cast<size_t>(INT_MAX) &&
         fields->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

absl::Status NotAMessage(const Descriptor& type) {
  return absl::InvalidArgumentError(absl::StrCat(
      "the request is not a valid ", type.full_name(),
      " message (malformed protobuf encoding): send a message of that type"));
}

// The status for a string field holding invalid UTF-8.
absl::Status BadString(const FieldDescriptor& field, const std::string& value) {
  absl::Status status;
  if (field.name() == "name") {
    status = ValidateName(value);
  } else if (field.name() == "client_name") {
    status = ValidateClientName(value);
  } else if (field.name() == "session_secret") {
    status = CheckSecretFormat(value);
  }
  if (!status.ok()) return status;
  return absl::InvalidArgumentError(
      absl::StrCat(field.name(), " is not valid UTF-8: string fields must be UTF-8"));
}

// The first invalid string field in `bytes` read as `type`, if any.
std::optional<absl::Status> FindBadString(absl::string_view bytes, const Descriptor& type,
                                          int depth) {
  UnknownFieldSet fields;
  if (!ParseUnknown(bytes, &fields)) return std::nullopt;
  for (int i = 0; i < fields.field_count(); ++i) {
    const UnknownField& f = fields.field(i);
    if (f.type() != UnknownField::TYPE_LENGTH_DELIMITED) continue;
    const FieldDescriptor* field = type.FindFieldByNumber(f.number());
    if (field == nullptr) continue;
    const std::string& value = f.length_delimited();
    if (field->type() == FieldDescriptor::TYPE_STRING &&
        !google::protobuf::internal::IsStructurallyValidUTF8(
            value.data(), static_cast<int>(value.size()))) {
      return BadString(*field, value);
    }
    if (field->type() == FieldDescriptor::TYPE_MESSAGE && depth < kMaxDepth) {
      std::optional<absl::Status> nested =
          FindBadString(value, *field->message_type(), depth + 1);
      if (nested.has_value()) return nested;
    }
  }
  return std::nullopt;
}

// The command_id (field 1) of a serialized SessionCommand, or 0.
uint64_t CommandIdOf(absl::string_view bytes) {
  UnknownFieldSet fields;
  if (!ParseUnknown(bytes, &fields)) return 0;
  uint64_t id = 0;
  for (int i = 0; i < fields.field_count(); ++i) {
    const UnknownField& f = fields.field(i);
    if (f.number() == v1::SessionCommand::kCommandIdFieldNumber &&
        f.type() == UnknownField::TYPE_VARINT) {
      id = f.varint();  // the last one wins, as in a real parse
    }
  }
  return id;
}

}  // namespace

std::string BufferBytes(const grpc::ByteBuffer& buffer) {
  grpc::Slice slice;
  if (!buffer.DumpToSingleSlice(&slice).ok()) return std::string();
  return std::string(reinterpret_cast<const char*>(slice.begin()), slice.size());
}

void SerializeToBuffer(const google::protobuf::Message& message, grpc::ByteBuffer* out) {
  std::string bytes = message.SerializeAsString();
  grpc::Slice slice(std::move(bytes));
  grpc::ByteBuffer buffer(&slice, 1);
  out->Swap(&buffer);
}

absl::Status ParseMessage(absl::string_view bytes, google::protobuf::Message* message) {
  if (bytes.size() <= static_cast<size_t>(INT_MAX) &&
      message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::OkStatus();
  }
  message->Clear();
  return ExplainParseFailure(bytes, *message->GetDescriptor());
}

absl::Status ExplainParseFailure(absl::string_view bytes, const Descriptor& type) {
  std::optional<absl::Status> bad = FindBadString(bytes, type, 0);
  return bad.has_value() ? *std::move(bad) : NotAMessage(type);
}

absl::StatusOr<ParsedStreamRequest> ParseStreamRequest(absl::string_view bytes) {
  ParsedStreamRequest out;
  if (bytes.size() <= static_cast<size_t>(INT_MAX) &&
      out.request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return out;
  }
  out.request.Clear();
  UnknownFieldSet fields;
  if (!ParseUnknown(bytes, &fields))
    return NotAMessage(*v1::StreamSessionRequest::descriptor());
  constexpr int kAcked = v1::StreamSessionRequest::kAckedSeqsFieldNumber;
  for (int i = 0; i < fields.field_count(); ++i) {
    const UnknownField& f = fields.field(i);
    if (f.number() == kAcked && f.type() == UnknownField::TYPE_VARINT) {
      out.request.add_acked_seqs(f.varint());
      continue;
    }
    if (f.type() != UnknownField::TYPE_LENGTH_DELIMITED) continue;
    const std::string& value = f.length_delimited();
    if (f.number() == kAcked) {  // packed
      google::protobuf::io::CodedInputStream in(
          reinterpret_cast<const uint8_t*>(value.data()), static_cast<int>(value.size()));
      uint64_t seq = 0;
      while (in.ReadVarint64(&seq)) out.request.add_acked_seqs(seq);
    } else if (f.number() == v1::StreamSessionRequest::kSessionSecretFieldNumber) {
      if (google::protobuf::internal::IsStructurallyValidUTF8(
              value.data(), static_cast<int>(value.size()))) {
        out.request.set_session_secret(value);
        out.secret_error = absl::OkStatus();
      } else {
        out.request.clear_session_secret();
        out.secret_error = CheckSecretFormat(value);
      }
    } else if (f.number() == v1::StreamSessionRequest::kCommandsFieldNumber) {
      v1::SessionCommand* command = out.request.add_commands();
      absl::Status parsed = ParseMessage(value, command);
      if (!parsed.ok()) {
        command->Clear();
        command->set_command_id(CommandIdOf(value));
        out.command_errors[out.request.commands_size() - 1] = std::move(parsed);
      }
    }
  }
  return out;
}

int64_t CountStreamCommands(absl::string_view bytes) {
  using google::protobuf::internal::WireFormatLite;
  if (bytes.size() > static_cast<size_t>(INT_MAX)) return 0;
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(bytes.data()), static_cast<int>(bytes.size()));
  const uint32_t command_tag =
      WireFormatLite::MakeTag(v1::StreamSessionRequest::kCommandsFieldNumber,
                              WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
  int64_t count = 0;
  for (;;) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) break;  // the end, or a malformed tag
    if (!WireFormatLite::SkipField(&in, tag)) break;
    if (tag == command_tag) ++count;
  }
  return count;
}

}  // namespace semaphored::server
