// Tests of the conversions between absl times and protobuf Timestamps and Durations.

#include "common/proto_time.h"

#include <chrono>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/status_matchers.h"

namespace semaphored::internal {
namespace {

using ::semaphored::testing::IsOk;
using ::semaphored::testing::StatusIs;
using ::testing::HasSubstr;

TEST(ProtoTimeTest, TimesAndDurationsConvertAndClamp) {
  const absl::Time t = absl::FromUnixNanos(1'700'000'000'123'456'789);
  google::protobuf::Timestamp ts = ToProtoTimestamp(t);
  EXPECT_EQ(ts.seconds(), 1'700'000'000);
  EXPECT_EQ(ts.nanos(), 123'456'789);
  ts = ToProtoTimestamp(absl::UnixEpoch() - absl::Milliseconds(1500));
  EXPECT_EQ(ts.seconds(), -2);
  EXPECT_EQ(ts.nanos(), 500'000'000);
  ts = ToProtoTimestamp(absl::InfiniteFuture());
  EXPECT_EQ(ts.seconds(), 253'402'300'799);
  EXPECT_EQ(ts.nanos(), 999'999'999);
  ts = ToProtoTimestamp(absl::InfinitePast());
  EXPECT_EQ(ts.seconds(), -62'135'596'800);
  EXPECT_EQ(ts.nanos(), 0);

  google::protobuf::Duration d = ToProtoDuration(absl::Milliseconds(-2500));
  EXPECT_EQ(d.seconds(), -2);
  EXPECT_EQ(d.nanos(), -500'000'000);
  EXPECT_THAT(FromProtoDuration(d, "d"), IsOk());
  EXPECT_EQ(*FromProtoDuration(d, "d"), absl::Milliseconds(-2500));
  d = ToProtoDuration(absl::InfiniteDuration());
  EXPECT_EQ(d.seconds(), 315'576'000'000);

  EXPECT_EQ(FromCallDeadline(std::chrono::system_clock::time_point::max()),
            absl::InfiniteFuture());
  const auto tp = std::chrono::system_clock::from_time_t(1'700'000'000);
  EXPECT_EQ(FromCallDeadline(tp), absl::FromUnixSeconds(1'700'000'000));
}

TEST(ProtoTimeTest, TimestampsRoundTrip) {
  for (absl::Time t : {absl::FromUnixNanos(1'700'000'000'123'456'789),
                       absl::UnixEpoch() - absl::Milliseconds(1500), absl::UnixEpoch()}) {
    SCOPED_TRACE(t);
    EXPECT_EQ(FromProtoTimestamp(ToProtoTimestamp(t)), t);
  }
}

TEST(ProtoTimeTest, InvalidDurationsNameTheField) {
  struct Case {
    int64_t seconds;
    int32_t nanos;
    const char* why;
  };
  for (const Case& c : {Case{315'576'000'001, 0, "beyond"},
                        Case{0, 1'000'000'000, "outside"},
                        Case{1, -1, "opposite signs"}}) {
    SCOPED_TRACE(c.why);
    google::protobuf::Duration d;
    d.set_seconds(c.seconds);
    d.set_nanos(c.nanos);
    EXPECT_THAT(FromProtoDuration(d, "ttl"),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         ::testing::AllOf(HasSubstr("ttl"), HasSubstr(c.why))));
  }
}

}  // namespace
}  // namespace semaphored::internal
