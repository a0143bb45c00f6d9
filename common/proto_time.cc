// Conversions between absl time types and protobuf Duration, Timestamp and deadlines.

#include "common/proto_time.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"

namespace semaphored::internal {
namespace {

// The range of google.protobuf.Duration and Timestamp (see their .proto files).
constexpr int64_t kMaxDurationSeconds = 315'576'000'000;
constexpr int32_t kMaxNanos = 999'999'999;
constexpr int64_t kMinTimestampSeconds = -62'135'596'800;  // 0001-01-01T00:00:00Z
constexpr int64_t kMaxTimestampSeconds = 253'402'300'799;  // 9999-12-31T23:59:59Z

}  // namespace

absl::StatusOr<absl::Duration> FromProtoDuration(const google::protobuf::Duration& d,
                                                 absl::string_view field) {
  const int64_t seconds = d.seconds();
  const int32_t nanos = d.nanos();
  if (seconds < -kMaxDurationSeconds || seconds > kMaxDurationSeconds) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is not a valid duration: ", seconds,
                     " seconds is beyond +-", kMaxDurationSeconds));
  }
  if (nanos < -kMaxNanos || nanos > kMaxNanos) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is not a valid duration: nanos ", nanos,
                     " is outside -999999999..999999999"));
  }
  if ((seconds > 0 && nanos < 0) || (seconds < 0 && nanos > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is not a valid duration: seconds ", seconds, " and nanos ",
                     nanos, " have opposite signs"));
  }
  return absl::Seconds(seconds) + absl::Nanoseconds(nanos);
}

google::protobuf::Duration ToProtoDuration(absl::Duration d) {
  const absl::Duration max = absl::Seconds(kMaxDurationSeconds);
  d = std::clamp(d, -max, max);
  google::protobuf::Duration out;
  const int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &d);
  out.set_seconds(seconds);
  out.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d)));
  return out;
}

google::protobuf::Timestamp ToProtoTimestamp(absl::Time t) {
  google::protobuf::Timestamp out;
  const absl::Time min = absl::FromUnixSeconds(kMinTimestampSeconds);
  const absl::Time max =
      absl::FromUnixSeconds(kMaxTimestampSeconds) + absl::Nanoseconds(kMaxNanos);
  t = std::clamp(t, min, max);
  const absl::Duration since_epoch = t - absl::UnixEpoch();
  absl::Duration rem;
  int64_t seconds = absl::IDivDuration(since_epoch, absl::Seconds(1), &rem);
  // Timestamp nanos are never negative: borrow a second for times before 1970.
  if (rem < absl::ZeroDuration()) {
    --seconds;
    rem += absl::Seconds(1);
  }
  out.set_seconds(seconds);
  out.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(rem)));
  return out;
}

absl::Time FromProtoTimestamp(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

absl::Time FromCallDeadline(std::chrono::system_clock::time_point deadline) {
  if (deadline == std::chrono::system_clock::time_point::max()) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

}  // namespace semaphored::internal
