// Tests of the mapping between absl::Status and the wire's status codes, both ways.

#include "common/wire_status.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/status_matchers.h"

namespace semaphored::internal {
namespace {

using ::semaphored::testing::IsOk;
using ::semaphored::testing::StatusIs;

TEST(WireStatusTest, ToGrpcStatusKeepsCodeAndMessage) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  for (int code = 1; code <= 16; ++code) {
    SCOPED_TRACE(code);
    const absl::Status status(static_cast<absl::StatusCode>(code), "what happened");
    const grpc::Status got = ToGrpcStatus(status);
    EXPECT_EQ(static_cast<int>(got.error_code()), code);
    EXPECT_EQ(got.error_message(), "what happened");
  }
  const grpc::Status odd =
      ToGrpcStatus(absl::Status(static_cast<absl::StatusCode>(42), "x"));
  EXPECT_EQ(odd.error_code(), grpc::StatusCode::UNKNOWN);
}

TEST(WireStatusTest, FromGrpcStatusKeepsCodeAndMessage) {
  EXPECT_THAT(FromGrpcStatus(grpc::Status::OK), IsOk());
  for (int code = 1; code <= 16; ++code) {
    SCOPED_TRACE(code);
    const grpc::Status status(static_cast<grpc::StatusCode>(code), "what happened");
    EXPECT_THAT(FromGrpcStatus(status),
                StatusIs(static_cast<absl::StatusCode>(code), "what happened"));
  }
}

TEST(WireStatusTest, CommandErrorsRoundTripAndNeverSayOk) {
  for (int code = 1; code <= 16; ++code) {
    SCOPED_TRACE(code);
    const absl::Status status(static_cast<absl::StatusCode>(code), "msg");
    const v1::CommandError error = ToCommandError(status);
    EXPECT_EQ(error.code(), code);
    EXPECT_EQ(StatusFromCode(error.code(), error.message()), status);
  }
  EXPECT_EQ(ToCommandError(absl::OkStatus()).code(),
            static_cast<int>(absl::StatusCode::kUnknown));
  for (int code : {-1, 17, 1 << 30}) {
    SCOPED_TRACE(code);
    v1::CommandError error;
    error.set_code(code);
    error.set_message("m");
    EXPECT_THAT(StatusFromCode(error.code(), error.message()),
                StatusIs(absl::StatusCode::kUnknown, "m"));
  }
}

TEST(WireStatusTest, CodeZeroIsOk) {
  // What the library's callers rely on: a zero code says nothing went wrong, and they
  // decide themselves what an event carrying it means.
  EXPECT_THAT(StatusFromCode(0, "m"), IsOk());
}

}  // namespace
}  // namespace semaphored::internal
