#ifndef SEMAPHORED_TESTS_FUZZ_WIRE_ORACLES_H_
#define SEMAPHORED_TESTS_FUZZ_WIRE_ORACLES_H_

// What request conversion and validation promise (server/service/convert.h,
// engine/request_checks.h, common/names.h, the .proto comments), restated
// independently for the wire fuzzer: whether a parsed request must
// be accepted, and what an accepted one must look like. Each oracle is the contract
// written out once more, not a call into the code under test.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/names.h"
#include "google/protobuf/duration.pb.h"
#include "engine/types.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/text_checks.h"

namespace semaphored::fuzz {

using ::semaphored::internal::kMaxClientNameBytes;
using ::semaphored::internal::kMaxLimit;
using ::semaphored::internal::kMaxNameBytes;
using ::semaphored::internal::kMaxWait;

// Error messages go to clients and into logs: they must be printable and short
// (names in them are quoted and cut by QuoteName).
inline constexpr size_t kMaxErrorMessageBytes = 1024;

// An error from the validation layer: INVALID_ARGUMENT or UNAUTHENTICATED, with a
// printable message of bounded size.
inline void CheckValidationError(const absl::Status& s, const char* what) {
  FUZZ_CHECK(!s.ok(), "%s: expected an error, got OK", what);
  FUZZ_CHECK(s.code() == absl::StatusCode::kInvalidArgument ||
                 s.code() == absl::StatusCode::kUnauthenticated,
             "%s: unexpected code %s", what, s.ToString().c_str());
  FUZZ_CHECK(!s.message().empty(), "%s: empty error message", what);
  FUZZ_CHECK(s.message().size() <= kMaxErrorMessageBytes, "%s: %zu-byte error message",
             what, s.message().size());
  FUZZ_CHECK(IsPrintableText(s.message()), "%s: unprintable error message", what);
}

// A semaphore name the server may act on: 1 to 255 bytes of printable UTF-8, not
// a local ('$') name.
inline bool IsValidGlobalName(const std::string& name) {
  return !name.empty() && name.size() <= kMaxNameBytes && IsPrintableText(name) &&
         name.front() != '$';
}

inline bool IsValidClientName(const std::string& name) {
  return name.size() <= kMaxClientNameBytes && IsPrintableText(name);
}

// 32 lowercase hex digits.
inline bool IsWellFormedSecret(const std::string& secret) {
  return secret.size() == 32 && std::all_of(secret.begin(), secret.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// google.protobuf.Duration's own validity rule (see duration.proto).
inline bool IsValidDuration(const google::protobuf::Duration& d) {
  constexpr int64_t kMaxSeconds = 315'576'000'000;
  constexpr int32_t kMaxNanos = 999'999'999;
  if (d.seconds() < -kMaxSeconds || d.seconds() > kMaxSeconds) return false;
  if (d.nanos() < -kMaxNanos || d.nanos() > kMaxNanos) return false;
  return !((d.seconds() > 0 && d.nanos() < 0) || (d.seconds() < 0 && d.nanos() > 0));
}

inline absl::Duration AsDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

// A wait timeout: unset, or a valid duration from 0 to kMaxWait.
inline bool IsValidTimeout(bool has_timeout, const google::protobuf::Duration& d) {
  if (!has_timeout) return true;
  if (!IsValidDuration(d)) return false;
  const absl::Duration wait = AsDuration(d);
  return wait >= absl::ZeroDuration() && wait <= kMaxWait;
}

// The deadline an accepted wait must get (convert.h, ToSetArgs): try once when there
// is no wait and no wait_indefinitely; else now + timeout (or forever), bounded by the
// call's deadline.
inline absl::Time ExpectedDeadline(bool has_timeout, const google::protobuf::Duration& d,
                                   bool wait_indefinitely, absl::Time now,
                                   absl::Time call_deadline) {
  const absl::Duration wait = has_timeout ? AsDuration(d) : absl::ZeroDuration();
  if (!wait_indefinitely && wait == absl::ZeroDuration()) return absl::InfinitePast();
  const absl::Time until = wait_indefinitely ? absl::InfiniteFuture() : now + wait;
  return std::min(until, call_deadline);
}

// A count (limit or permits): 1..kMaxLimit.
inline bool IsValidCount(int32_t n) { return n >= 1 && n <= kMaxLimit; }

// A proto Timestamp the server sends: years 0001..9999, nanos 0..999999999.
inline bool IsValidTimestamp(int64_t seconds, int32_t nanos) {
  return seconds >= -62'135'596'800 && seconds <= 253'402'300'799 && nanos >= 0 &&
         nanos <= 999'999'999;
}

}  // namespace semaphored::fuzz

#endif  // SEMAPHORED_TESTS_FUZZ_WIRE_ORACLES_H_
