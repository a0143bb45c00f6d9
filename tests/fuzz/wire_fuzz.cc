// Fuzzes the request parsing and validation layer (server/service/wire.h and
// convert.h) with arbitrary bytes. Each input is read as every request the server
// parses — the unary requests, a StreamSessionRequest with its commands, the admin
// requests — and, for each one:
//   - a parse failure is INVALID_ARGUMENT or UNAUTHENTICATED with a printable message
//     and leaves the message empty; a parse success survives a serialize/parse round
//     trip unchanged;
//   - conversion followed by the engine's checks (engine/request_checks.h) accepts
//     exactly the requests the contract calls valid (names, client names, secrets,
//     limits, permits, timeouts, TTLs: wire_oracles.h), conversion itself refusing
//     only bad names and malformed Durations; and what they make of a valid request
//     is what the contract says (the same name, the default TTL for an unset one, the
//     deadline rule under three call deadlines);
//   - rejections are validation errors, and a malformed secret is never echoed.
// The first 16 bytes also drive the scalar conversions the responses use.

#include <cstdint>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/stubs/logging.h"
#include "semaphored/v1/admin.pb.h"
#include "semaphored/v1/semaphore.pb.h"
#include "engine/request_checks.h"
#include "engine/types.h"
#include "common/proto_time.h"
#include "common/wire_status.h"
#include "server/service/convert.h"
#include "server/service/wire.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/wire_oracles.h"

namespace semaphored::server {

using ::semaphored::internal::FormatSessionId;
using ::semaphored::internal::FromProtoDuration;
using ::semaphored::internal::ParseSessionId;
using ::semaphored::internal::SessionId;
using ::semaphored::internal::StatusFromCode;
using ::semaphored::internal::ToCommandError;
using ::semaphored::internal::ToGrpcStatus;
using ::semaphored::internal::ToProtoDuration;
using ::semaphored::internal::ToProtoTimestamp;
using ::semaphored::internal::ValidateGlobalName;

using engine::SetArgs;
using engine::WaitClearArgs;

namespace {

using ::semaphored::fuzz::CheckValidationError;
using ::semaphored::fuzz::ExpectedDeadline;
using ::semaphored::fuzz::IsValidClientName;
using ::semaphored::fuzz::IsValidCount;
using ::semaphored::fuzz::IsValidDuration;
using ::semaphored::fuzz::IsValidGlobalName;
using ::semaphored::fuzz::IsValidTimeout;
using ::semaphored::fuzz::IsValidTimestamp;
using ::semaphored::fuzz::IsWellFormedSecret;

const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);
// No deadline, a near one, and one already past.
const absl::Time kCallDeadlines[] = {absl::InfiniteFuture(), kNow + absl::Seconds(5),
                                     kNow - absl::Seconds(1)};

// Parses `bytes` as a Request through ParseMessage; checks failure and round trip.
template <typename Request>
bool Parse(absl::string_view bytes, Request* request) {
  const char* type = Request::descriptor()->name().c_str();
  absl::Status s = ParseMessage(bytes, request);
  if (!s.ok()) {
    CheckValidationError(s, type);
    FUZZ_CHECK(request->ByteSizeLong() == 0, "%s: failed parse left data", type);
    return false;
  }
  const std::string again = request->SerializeAsString();
  Request copy;
  FUZZ_CHECK(ParseMessage(again, &copy).ok(), "%s: own serialization rejected", type);
  FUZZ_CHECK(copy.SerializeAsString() == again, "%s: round trip changed it", type);
  return true;
}

void CheckSecret(const std::string& secret) {
  const absl::Status s = CheckSecretFormat(secret);
  FUZZ_CHECK(s.ok() == IsWellFormedSecret(secret), "secret check: %s",
             s.ToString().c_str());
  if (s.ok()) return;
  CheckValidationError(s, "secret");
  FUZZ_CHECK(s.code() == absl::StatusCode::kUnauthenticated, "secret: %s",
             s.ToString().c_str());
  // The message does not depend on the secret's content, so it cannot echo it.
  const absl::Status reference = CheckSecretFormat(secret.empty() ? "" : "x");
  FUZZ_CHECK(s.message() == reference.message(), "secret-dependent message: %s",
             s.ToString().c_str());
}

void CheckName(const absl::StatusOr<std::string>& name, const std::string& requested,
               const char* what) {
  FUZZ_CHECK(name.ok() == IsValidGlobalName(requested), "%s name: %s", what,
             name.status().ToString().c_str());
  if (!name.ok()) return CheckValidationError(name.status(), what);
  FUZZ_CHECK(*name == requested, "%s: name changed", what);
}

void CheckSessionArgs(const v1::CreateSessionRequest& request) {
  absl::StatusOr<SessionArgs> args = ToSessionArgs(request);
  const bool converts = IsValidClientName(request.client_name()) &&
                        (!request.has_ttl() || IsValidDuration(request.ttl()));
  FUZZ_CHECK(args.ok() == converts, "CreateSession: %s", args.status().ToString().c_str());
  if (!args.ok()) return CheckValidationError(args.status(), "CreateSession");
  // The engine refuses a negative TTL (its range depends on the server's options).
  const absl::Status ttl = engine::CheckTtlNotNegative(args->ttl);
  FUZZ_CHECK(ttl.ok() == (args->ttl >= absl::ZeroDuration()), "CreateSession ttl: %s",
             ttl.ToString().c_str());
  if (!ttl.ok()) return CheckValidationError(ttl, "CreateSession ttl");
  FUZZ_CHECK(args->client_name == request.client_name(), "client name changed");
  const absl::Duration want =
      request.has_ttl() ? fuzz::AsDuration(request.ttl()) : absl::ZeroDuration();
  FUZZ_CHECK(args->ttl == want, "ttl %s", absl::FormatDuration(args->ttl).c_str());
  // What the server sends back for a valid duration reads the same.
  google::protobuf::Duration echo = ToProtoDuration(args->ttl);
  FUZZ_CHECK(!request.has_ttl() || (echo.seconds() == request.ttl().seconds() &&
                                    echo.nanos() == request.ttl().nanos()),
             "ttl round trip");
}

void CheckSetArgs(const v1::SetSemaphoreRequest& request) {
  const bool converts = IsValidGlobalName(request.name()) &&
                        (!request.has_timeout() || IsValidDuration(request.timeout()));
  bool valid = converts &&
               IsValidTimeout(request.has_timeout(), request.timeout()) &&
               (!request.has_limit() || IsValidCount(request.limit())) &&
               (!request.has_permits() || IsValidCount(request.permits()));
  if (valid && request.has_limit() && request.has_permits()) {
    valid = request.permits() <= request.limit();
  }
  for (absl::Time call_deadline : kCallDeadlines) {
    absl::StatusOr<SetArgs> args = ToSetArgs(request, call_deadline);
    FUZZ_CHECK(args.ok() == converts, "SetSemaphore: %s", args.status().ToString().c_str());
    if (!args.ok()) {
      CheckValidationError(args.status(), "SetSemaphore");
      continue;
    }
    FUZZ_CHECK(args->name == request.name(), "set: name changed");
    FUZZ_CHECK(args->limit.has_value() == request.has_limit() &&
                   (!request.has_limit() || *args->limit == request.limit()),
               "set: limit changed");
    FUZZ_CHECK(args->permits == (request.has_permits() ? request.permits() : 1),
               "set: permits %d", args->permits);
    const absl::Status checked = engine::CheckSetArgs(*args);
    FUZZ_CHECK(checked.ok() == valid, "SetSemaphore checks: %s",
               checked.ToString().c_str());
    if (!checked.ok()) {
      CheckValidationError(checked, "SetSemaphore checks");
      continue;
    }
    const absl::Time end = engine::WaitEnd(args->wait, kNow);
    FUZZ_CHECK(end == ExpectedDeadline(request.has_timeout(), request.timeout(),
                                       request.wait_indefinitely(), kNow, call_deadline),
               "set: deadline %s", absl::FormatTime(end).c_str());
  }
}

void CheckWaitClearArgs(const v1::WaitSemaphoreClearRequest& request) {
  const bool converts = IsValidGlobalName(request.name()) &&
                        (!request.has_timeout() || IsValidDuration(request.timeout()));
  const bool valid = converts && IsValidTimeout(request.has_timeout(), request.timeout());
  for (absl::Time call_deadline : kCallDeadlines) {
    absl::StatusOr<WaitClearArgs> args = ToWaitClearArgs(request, call_deadline);
    FUZZ_CHECK(args.ok() == converts, "WaitClear: %s", args.status().ToString().c_str());
    if (!args.ok()) {
      CheckValidationError(args.status(), "WaitClear");
      continue;
    }
    FUZZ_CHECK(args->name == request.name(), "wait_clear: name changed");
    const absl::Status checked = engine::CheckWaitClearArgs(*args);
    FUZZ_CHECK(checked.ok() == valid, "WaitClear checks: %s", checked.ToString().c_str());
    if (!checked.ok()) {
      CheckValidationError(checked, "WaitClear checks");
      continue;
    }
    const absl::Time end = engine::WaitEnd(args->wait, kNow);
    FUZZ_CHECK(end == ExpectedDeadline(request.has_timeout(), request.timeout(),
                                       request.wait_indefinitely(), kNow, call_deadline),
               "wait_clear: deadline %s", absl::FormatTime(end).c_str());
  }
}

// One parsed stream command, as session_commands.cc validates it.
void CheckCommand(const v1::SessionCommand& command) {
  switch (command.command_case()) {
    case v1::SessionCommand::kRefresh:
      return CheckSecret(command.refresh().session_secret());
    case v1::SessionCommand::kSet:
      CheckSecret(command.set().session_secret());
      return CheckSetArgs(command.set());
    case v1::SessionCommand::kClear:
      CheckSecret(command.clear().session_secret());
      return CheckName(ToClearName(command.clear()), command.clear().name(), "clear");
    case v1::SessionCommand::kTest:
      return CheckName(ToTestName(command.test()), command.test().name(), "test");
    case v1::SessionCommand::kWaitClear:
      CheckSecret(command.wait_clear().session_secret());
      return CheckWaitClearArgs(command.wait_clear());
    case v1::SessionCommand::kClose:
      return CheckSecret(command.close().session_secret());
    default:
      return;
  }
}

void FuzzStream(absl::string_view bytes) {
  v1::StreamSessionRequest strict;
  const bool strict_ok = strict.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
  absl::StatusOr<ParsedStreamRequest> parsed = ParseStreamRequest(bytes);
  if (!parsed.ok()) {
    FUZZ_CHECK(!strict_ok, "stream: a valid request was refused");
    CheckValidationError(parsed.status(), "stream");
    FUZZ_CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument, "stream: %s",
               parsed.status().ToString().c_str());
    return;
  }
  const v1::StreamSessionRequest& request = parsed->request;
  // The stream refuses a message with too many commands by this count, before
  // parsing them: it must agree with the parse.
  FUZZ_CHECK(CountStreamCommands(bytes) == request.commands_size(),
             "stream: counted %lld commands, parsed %d",
             static_cast<long long>(CountStreamCommands(bytes)), request.commands_size());
  if (strict_ok) {
    FUZZ_CHECK(parsed->secret_error.ok() && parsed->command_errors.empty(),
               "stream: errors in a valid request");
    FUZZ_CHECK(request.SerializeAsString() == strict.SerializeAsString(),
               "stream: differs from protobuf's parse");
  }
  if (!parsed->secret_error.ok()) {
    CheckValidationError(parsed->secret_error, "stream secret");
    FUZZ_CHECK(request.session_secret().empty(), "stream: bad secret kept");
  } else if (!request.session_secret().empty()) {
    CheckSecret(request.session_secret());
  }
  for (const auto& [index, error] : parsed->command_errors) {
    FUZZ_CHECK(index >= 0 && index < request.commands_size(), "stream: error index %d",
               index);
    CheckValidationError(error, "stream command");
    FUZZ_CHECK(request.commands(index).command_case() ==
                   v1::SessionCommand::COMMAND_NOT_SET,
               "stream: a command that did not parse has an operation");
  }
  for (int i = 0; i < request.commands_size(); ++i) {
    if (!parsed->command_errors.contains(i)) CheckCommand(request.commands(i));
  }
}

void FuzzUnary(absl::string_view bytes) {
  if (v1::CreateSessionRequest r; Parse(bytes, &r)) CheckSessionArgs(r);
  if (v1::RefreshSessionRequest r; Parse(bytes, &r)) CheckSecret(r.session_secret());
  if (v1::CloseSessionRequest r; Parse(bytes, &r)) CheckSecret(r.session_secret());
  if (v1::SetSemaphoreRequest r; Parse(bytes, &r)) {
    CheckSecret(r.session_secret());
    CheckSetArgs(r);
  }
  if (v1::ClearSemaphoreRequest r; Parse(bytes, &r)) {
    CheckSecret(r.session_secret());
    CheckName(ToClearName(r), r.name(), "clear");
  }
  if (v1::TestSemaphoreRequest r; Parse(bytes, &r)) CheckName(ToTestName(r), r.name(), "test");
  if (v1::WaitSemaphoreClearRequest r; Parse(bytes, &r)) {
    CheckSecret(r.session_secret());
    CheckWaitClearArgs(r);
  }
  if (v1::PingRequest r; Parse(bytes, &r)) {
  }
}

// Session ids in admin requests: ParseSessionId reads exactly FormatSessionId's form.
void CheckSessionId(const std::string& text) {
  std::optional<SessionId> id = ParseSessionId(text);
  if (id.has_value()) FUZZ_CHECK(FormatSessionId(*id) == text, "session id round trip");
}

void FuzzAdmin(absl::string_view bytes) {
  if (v1::ListSemaphoresRequest r; Parse(bytes, &r)) {
  }
  if (v1::ListSessionsRequest r; Parse(bytes, &r)) {
  }
  if (v1::GetSessionRequest r; Parse(bytes, &r)) CheckSessionId(r.session_id());
  if (v1::EndSessionRequest r; Parse(bytes, &r)) CheckSessionId(r.session_id());
  if (v1::ForceClearSemaphoreRequest r; Parse(bytes, &r)) {
    FUZZ_CHECK(ValidateGlobalName(r.name()).ok() == fuzz::IsValidGlobalName(r.name()),
               "force clear name");
  }
  if (v1::DrainRequest r; Parse(bytes, &r)) {
  }
}

// CommandError answers (what a client converts back) and status mapping.
void FuzzStatusMapping(absl::string_view bytes) {
  v1::CommandError error;
  if (!error.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return;
  const absl::Status status = StatusFromCode(error.code(), error.message());
  // Code 0 means OK to the library; every other number is an error.
  if (error.code() == 0) {
    FUZZ_CHECK(status.ok(), "code 0 is not OK");
    return;
  }
  const int code = static_cast<int>(status.code());
  FUZZ_CHECK(code >= 1 && code <= 16, "StatusFromCode code %d", code);
  if (error.code() >= 1 && error.code() <= 16) FUZZ_CHECK(code == error.code(), "code");
  FUZZ_CHECK(status.message() == error.message(), "message changed");
  const v1::CommandError back = ToCommandError(status);
  FUZZ_CHECK(back.code() == code && back.message() == error.message(), "round trip");
  FUZZ_CHECK(static_cast<int>(ToGrpcStatus(status).error_code()) == code, "grpc code");
}

// Responses carry times the core computed; any of them must become a valid message.
void FuzzScalars(absl::string_view bytes) {
  if (bytes.size() < 16) return;
  int64_t a, b;
  std::memcpy(&a, bytes.data(), 8);
  std::memcpy(&b, bytes.data() + 8, 8);
  const absl::Time times[] = {absl::FromUnixNanos(a), absl::FromUnixSeconds(b),
                              absl::InfinitePast(), absl::InfiniteFuture()};
  for (absl::Time t : times) {
    google::protobuf::Timestamp ts = ToProtoTimestamp(t);
    FUZZ_CHECK(IsValidTimestamp(ts.seconds(), ts.nanos()), "timestamp %lld.%d",
               static_cast<long long>(ts.seconds()), ts.nanos());
  }
  const absl::Duration durations[] = {absl::Nanoseconds(a), absl::Seconds(b),
                                      absl::InfiniteDuration(), -absl::InfiniteDuration()};
  for (absl::Duration d : durations) {
    google::protobuf::Duration pd = ToProtoDuration(d);
    FUZZ_CHECK(IsValidDuration(pd), "duration %lld/%d",
               static_cast<long long>(pd.seconds()), pd.nanos());
    absl::StatusOr<absl::Duration> back = FromProtoDuration(pd, "d");
    FUZZ_CHECK(back.ok(), "own duration refused");
  }
}

void FuzzOne(absl::string_view bytes) {
  // Protobuf logs every string field with invalid UTF-8 it meets: noise here.
  static const bool quiet = [] {
    google::protobuf::SetLogHandler(nullptr);
    return true;
  }();
  (void)quiet;
  FuzzUnary(bytes);
  FuzzStream(bytes);
  FuzzAdmin(bytes);
  FuzzStatusMapping(bytes);
  FuzzScalars(bytes);
}

}  // namespace
}  // namespace semaphored::server

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  semaphored::server::FuzzOne(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
