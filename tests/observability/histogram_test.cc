// Tests of the duration histogram and its seconds formatting in the metrics exposition.

#include "server/observability/histogram.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace semaphored::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(FormatSecondsTest, WritesDecimalSecondsWithoutExponentOrTrailingZeros) {
  struct Case {
    absl::Duration d;
    const char* want;
  } cases[] = {
      {absl::Microseconds(100), "0.0001"}, {absl::Microseconds(250), "0.00025"},
      {absl::Milliseconds(2500), "2.5"},   {absl::Seconds(60), "60"},
      {absl::ZeroDuration(), "0"},         {absl::Nanoseconds(1), "0.000000001"},
      {absl::Hours(1), "3600"},            {-absl::Milliseconds(1500), "-1.5"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.want);
    EXPECT_EQ(FormatSeconds(c.d), c.want);
  }
}

TEST(DurationHistogramTest, BucketsAreInclusiveOfTheirUpperBound) {
  DurationHistogram h({absl::Milliseconds(1), absl::Milliseconds(10)});
  h.Observe(absl::Milliseconds(1));    // exactly on the first bound
  h.Observe(absl::Microseconds(1001)); // just above it
  h.Observe(absl::Milliseconds(10));
  h.Observe(absl::Seconds(5));         // above every bound: +Inf only
  const DurationHistogram::Snapshot s = h.Read();
  EXPECT_THAT(s.cumulative, ElementsAre(1, 3, 4));
  EXPECT_EQ(s.count, 4u);
  EXPECT_NEAR(s.sum_seconds, 0.001 + 0.001001 + 0.010 + 5, 1e-9);
}

TEST(DurationHistogramTest, NegativeDurationsCountAsZero) {
  DurationHistogram h({absl::Milliseconds(1)});
  h.Observe(-absl::Seconds(3));
  const DurationHistogram::Snapshot s = h.Read();
  EXPECT_THAT(s.cumulative, ElementsAre(1, 1));
  EXPECT_EQ(s.sum_seconds, 0);
}

TEST(DurationHistogramTest, RendersCumulativeBucketsInfSumAndCount) {
  DurationHistogram h({absl::Milliseconds(1), absl::Milliseconds(2500)});
  h.Observe(absl::Microseconds(500));
  h.Observe(absl::Seconds(2));
  h.Observe(absl::Seconds(4));
  std::string out;
  h.Render("x_seconds", "Help.", &out);
  EXPECT_EQ(out,
            "# HELP x_seconds Help.\n"
            "# TYPE x_seconds histogram\n"
            "x_seconds_bucket{le=\"0.001\"} 1\n"
            "x_seconds_bucket{le=\"2.5\"} 2\n"
            "x_seconds_bucket{le=\"+Inf\"} 3\n"
            "x_seconds_sum 6.0005\n"
            "x_seconds_count 3\n");
}

TEST(DurationHistogramTest, DefaultBucketsAreIncreasingAndSpanTheirRanges) {
  for (const auto& bounds : {AcquireWaitBuckets(), HoldTimeBuckets()}) {
    ASSERT_FALSE(bounds.empty());
    for (size_t i = 1; i < bounds.size(); ++i) EXPECT_LT(bounds[i - 1], bounds[i]);
  }
  EXPECT_EQ(AcquireWaitBuckets().front(), absl::Microseconds(100));
  EXPECT_EQ(AcquireWaitBuckets().back(), absl::Seconds(60));
  EXPECT_EQ(HoldTimeBuckets().back(), absl::Hours(1));
  std::string out;
  DurationHistogram(AcquireWaitBuckets()).Render("w", "h", &out);
  EXPECT_THAT(out, HasSubstr("w_bucket{le=\"0.0001\"} 0\n"));
  EXPECT_THAT(out, HasSubstr("w_bucket{le=\"0.0025\"} 0\n"));
}

}  // namespace
}  // namespace semaphored::server
