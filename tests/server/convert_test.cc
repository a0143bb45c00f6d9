// Tests of the server's conversions between semaphored.v1 messages and the engine's types.

#include "server/service/convert.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "engine/request_checks.h"
#include "tests/common/status_matchers.h"

namespace semaphored::server {

using ::semaphored::internal::FormatSessionId;
using ::semaphored::internal::kMaxLimit;

using engine::GrantInfo;
using engine::HolderSnapshot;
using engine::SemaphoreSnapshot;
using engine::SetArgs;
using engine::SetOutcome;
using engine::WaitClearArgs;
using engine::WaitClearOutcome;

namespace {

using ::semaphored::testing::IsOk;
using ::semaphored::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);
constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

google::protobuf::Duration Dur(int64_t seconds, int32_t nanos = 0) {
  google::protobuf::Duration d;
  d.set_seconds(seconds);
  d.set_nanos(nanos);
  return d;
}

// The server's request path: conversion, then the engine's checks of the values
// (engine/request_checks.h), which the engine makes when it is called.
absl::StatusOr<SessionArgs> SessionArgsChecked(const v1::CreateSessionRequest& request) {
  absl::StatusOr<SessionArgs> args = ToSessionArgs(request);
  if (!args.ok()) return args;
  if (absl::Status s = engine::CheckTtlNotNegative(args->ttl); !s.ok()) return s;
  return args;
}
absl::StatusOr<SetArgs> SetArgsChecked(const v1::SetSemaphoreRequest& request,
                                       absl::Time call_deadline) {
  absl::StatusOr<SetArgs> args = ToSetArgs(request, call_deadline);
  if (!args.ok()) return args;
  if (absl::Status s = engine::CheckSetArgs(*args); !s.ok()) return s;
  return args;
}
absl::StatusOr<WaitClearArgs> WaitClearArgsChecked(
    const v1::WaitSemaphoreClearRequest& request, absl::Time call_deadline) {
  absl::StatusOr<WaitClearArgs> args = ToWaitClearArgs(request, call_deadline);
  if (!args.ok()) return args;
  if (absl::Status s = engine::CheckWaitClearArgs(*args); !s.ok()) return s;
  return args;
}

struct BadName {
  std::string label;
  std::string name;
  std::string message;  // expected in the error message
};

std::vector<BadName> BadNames() {
  return {
      {"empty", "", "empty"},
      {"256 bytes", std::string(256, 'a'), "256 bytes"},
      {"invalid UTF-8", "ab\xff\xfe", "UTF-8"},
      {"truncated UTF-8", "\xc3", "UTF-8"},
      {"newline", "a\nb", "control character"},
      {"NUL", std::string("a\0b", 3), "control character"},
      {"DEL", "a\x7f", "control character"},
      {"C1 control", "a\xc2\x85", "control character"},
      {"local name", "$local", "'$'"},
  };
}

TEST(ConvertTest, EveryNamedRequestRejectsBadNames) {
  for (const BadName& bad : BadNames()) {
    SCOPED_TRACE(bad.label);
    const auto matcher = StatusIs(kInvalid, HasSubstr(bad.message));
    v1::SetSemaphoreRequest set;
    set.set_name(bad.name);
    EXPECT_THAT(SetArgsChecked(set, absl::InfiniteFuture()), matcher);
    v1::WaitSemaphoreClearRequest wait;
    wait.set_name(bad.name);
    EXPECT_THAT(WaitClearArgsChecked(wait, absl::InfiniteFuture()), matcher);
    v1::ClearSemaphoreRequest clear;
    clear.set_name(bad.name);
    EXPECT_THAT(ToClearName(clear), matcher);
    v1::TestSemaphoreRequest test;
    test.set_name(bad.name);
    EXPECT_THAT(ToTestName(test), matcher);
  }
}

TEST(ConvertTest, GoodNamesPassThroughUnchanged) {
  for (const std::string& name :
       {std::string("a"), std::string(255, 'x'), std::string("caf\xc3\xa9 \xe2\x82\xac"),
        std::string("a$b")}) {
    SCOPED_TRACE(name);
    v1::ClearSemaphoreRequest clear;
    clear.set_name(name);
    absl::StatusOr<std::string> got = ToClearName(clear);
    ASSERT_THAT(got, IsOk());
    EXPECT_EQ(*got, name);
  }
}

TEST(ConvertTest, CreateSessionValidatesClientNameAndTtl) {
  struct Case {
    std::string label;
    std::string client_name;
    std::optional<google::protobuf::Duration> ttl;
    std::optional<std::string> error;  // nullopt: accepted
  };
  const std::vector<Case> cases = {
      {"empty name, unset ttl", "", std::nullopt, std::nullopt},
      {"256-byte name", std::string(256, 'c'), std::nullopt, "256 bytes"},
      {"invalid UTF-8 name", "\xc0\xaf", std::nullopt, "UTF-8"},
      {"control char name", "tab\there", std::nullopt, "control character"},
      {"negative ttl", "w", Dur(-1), "ttl -1s is negative"},
      {"nanos out of range", "w", Dur(1, 1'000'000'000), "nanos"},
      {"opposite signs", "w", Dur(1, -1), "opposite signs"},
      {"seconds beyond range", "w", Dur(400'000'000'000), "not a valid duration"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    v1::CreateSessionRequest request;
    request.set_client_name(c.client_name);
    if (c.ttl.has_value()) *request.mutable_ttl() = *c.ttl;
    if (c.error.has_value()) {
      EXPECT_THAT(SessionArgsChecked(request), StatusIs(kInvalid, HasSubstr(*c.error)));
    } else {
      EXPECT_THAT(SessionArgsChecked(request), IsOk());
    }
  }
}

TEST(ConvertTest, CreateSessionTtlUnsetOrZeroMeansDefault) {
  v1::CreateSessionRequest request;
  request.set_client_name("worker");
  absl::StatusOr<SessionArgs> args = SessionArgsChecked(request);
  ASSERT_THAT(args, IsOk());
  EXPECT_EQ(args->ttl, absl::ZeroDuration());
  EXPECT_EQ(args->client_name, "worker");
  *request.mutable_ttl() = Dur(0);
  ASSERT_THAT(SessionArgsChecked(request), IsOk());
  *request.mutable_ttl() = Dur(5, 500'000'000);
  args = SessionArgsChecked(request);
  ASSERT_THAT(args, IsOk());
  EXPECT_EQ(args->ttl, absl::Milliseconds(5500));
}

TEST(ConvertTest, SetRejectsBadPermitsAndLimits) {
  struct Case {
    std::string label;
    std::optional<int32_t> limit;
    std::optional<int32_t> permits;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"zero permits", std::nullopt, 0, "permits 0"},
      {"negative permits", std::nullopt, -3, "permits -3"},
      {"permits over max", std::nullopt, kMaxLimit + 1, "permits 1000001"},
      {"zero limit", 0, std::nullopt, "limit 0"},
      {"negative limit", -1, std::nullopt, "limit -1"},
      {"limit over max", kMaxLimit + 1, std::nullopt, "limit 1000001"},
      {"min int limit", INT32_MIN, 1, "limit -2147483648"},
      {"permits over limit", 2, 3,
       "permits 3 for semaphore \"s\" is more than its limit 2"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    v1::SetSemaphoreRequest request;
    request.set_name("s");
    if (c.limit.has_value()) request.set_limit(*c.limit);
    if (c.permits.has_value()) request.set_permits(*c.permits);
    EXPECT_THAT(SetArgsChecked(request, absl::InfiniteFuture()),
                StatusIs(kInvalid, AllOf(HasSubstr(c.error), HasSubstr("\"s\""))));
  }
}

TEST(ConvertTest, SetDefaultsAndExplicitCounts) {
  v1::SetSemaphoreRequest request;
  request.set_name("s");
  absl::StatusOr<SetArgs> args = SetArgsChecked(request, absl::InfiniteFuture());
  ASSERT_THAT(args, IsOk());
  EXPECT_EQ(args->name, "s");
  EXPECT_FALSE(args->limit.has_value());
  EXPECT_EQ(args->permits, 1);
  EXPECT_EQ(engine::WaitEnd(args->wait, kNow), absl::InfinitePast());

  request.set_limit(kMaxLimit);
  request.set_permits(kMaxLimit);
  args = SetArgsChecked(request, absl::InfiniteFuture());
  ASSERT_THAT(args, IsOk());
  EXPECT_EQ(args->limit, kMaxLimit);
  EXPECT_EQ(args->permits, kMaxLimit);
}

// Conversion copies the values; the engine checks them (so that the library's local
// path and the server answer alike).
TEST(ConvertTest, ValuesPassUncheckedToTheEngine) {
  v1::SetSemaphoreRequest set;
  set.set_name("s");
  set.set_limit(0);
  set.set_permits(-3);
  *set.mutable_timeout() = Dur(-1);
  absl::StatusOr<SetArgs> args = ToSetArgs(set, kNow);
  ASSERT_THAT(args, IsOk());
  EXPECT_EQ(args->limit, 0);
  EXPECT_EQ(args->permits, -3);
  EXPECT_EQ(args->wait.timeout, absl::Seconds(-1));
  EXPECT_EQ(args->wait.deadline, kNow);
  EXPECT_FALSE(args->wait.indefinitely);
  v1::WaitSemaphoreClearRequest wait;
  wait.set_name("s");
  *wait.mutable_timeout() = Dur(25 * 3600);
  wait.set_wait_indefinitely(true);
  absl::StatusOr<WaitClearArgs> wargs = ToWaitClearArgs(wait, absl::InfiniteFuture());
  ASSERT_THAT(wargs, IsOk());
  EXPECT_EQ(wargs->wait.timeout, absl::Hours(25));
  EXPECT_TRUE(wargs->wait.indefinitely);
  v1::CreateSessionRequest create;
  *create.mutable_ttl() = Dur(-1);
  absl::StatusOr<SessionArgs> session = ToSessionArgs(create);
  ASSERT_THAT(session, IsOk());
  EXPECT_EQ(session->ttl, absl::Seconds(-1));
}

TEST(ConvertTest, WaitsRejectBadTimeouts) {
  struct Case {
    std::string label;
    google::protobuf::Duration timeout;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"negative", Dur(-1), "timeout -1s"},
      {"negative nanos only", Dur(0, -5), "timeout -5ns"},
      {"over 24h", Dur(24 * 3600 + 1), "must be 0 to 24h"},
      {"nanos too large", Dur(1, 1'000'000'000), "nanos 1000000000"},
      {"nanos too small", Dur(0, -1'000'000'000), "nanos -1000000000"},
      {"opposite signs", Dur(-1, 5), "opposite signs"},
      {"seconds beyond range", Dur(INT64_MAX), "not a valid duration"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    v1::SetSemaphoreRequest set;
    set.set_name("s");
    *set.mutable_timeout() = c.timeout;
    EXPECT_THAT(SetArgsChecked(set, absl::InfiniteFuture()),
                StatusIs(kInvalid, AllOf(HasSubstr("timeout"), HasSubstr(c.error))));
    // wait_indefinitely does not excuse a malformed timeout.
    set.set_wait_indefinitely(true);
    EXPECT_THAT(SetArgsChecked(set, absl::InfiniteFuture()), StatusIs(kInvalid));
    v1::WaitSemaphoreClearRequest wait;
    wait.set_name("s");
    *wait.mutable_timeout() = c.timeout;
    EXPECT_THAT(WaitClearArgsChecked(wait, absl::InfiniteFuture()),
                StatusIs(kInvalid, AllOf(HasSubstr("timeout"), HasSubstr(c.error))));
  }
}

TEST(ConvertTest, WaitDeadlinesCombineTimeoutAndCallDeadline) {
  struct Case {
    std::string label;
    std::optional<google::protobuf::Duration> timeout;
    bool indefinitely;
    absl::Time call_deadline;
    absl::Time want;
  };
  const absl::Time inf = absl::InfiniteFuture();
  const std::vector<Case> cases = {
      {"unset: try once", std::nullopt, false, inf, absl::InfinitePast()},
      {"zero: try once", Dur(0), false, inf, absl::InfinitePast()},
      {"zero with a call deadline: try once", Dur(0), false, kNow + absl::Seconds(1),
       absl::InfinitePast()},
      {"timeout", Dur(5), false, inf, kNow + absl::Seconds(5)},
      {"24h exactly", Dur(24 * 3600), false, inf, kNow + absl::Hours(24)},
      {"call deadline first", Dur(5), false, kNow + absl::Seconds(1),
       kNow + absl::Seconds(1)},
      {"timeout first", Dur(1), false, kNow + absl::Seconds(5), kNow + absl::Seconds(1)},
      {"indefinitely", std::nullopt, true, inf, inf},
      {"indefinitely ignores the timeout", Dur(3), true, inf, inf},
      {"indefinitely within a call deadline", std::nullopt, true, kNow + absl::Seconds(2),
       kNow + absl::Seconds(2)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    v1::SetSemaphoreRequest set;
    set.set_name("s");
    if (c.timeout.has_value()) *set.mutable_timeout() = *c.timeout;
    set.set_wait_indefinitely(c.indefinitely);
    absl::StatusOr<SetArgs> args = SetArgsChecked(set, c.call_deadline);
    ASSERT_THAT(args, IsOk());
    EXPECT_EQ(engine::WaitEnd(args->wait, kNow), c.want);
    v1::WaitSemaphoreClearRequest wait;
    wait.set_name("s");
    if (c.timeout.has_value()) *wait.mutable_timeout() = *c.timeout;
    wait.set_wait_indefinitely(c.indefinitely);
    absl::StatusOr<WaitClearArgs> wargs = WaitClearArgsChecked(wait, c.call_deadline);
    ASSERT_THAT(wargs, IsOk());
    EXPECT_EQ(engine::WaitEnd(wargs->wait, kNow), c.want);
    EXPECT_EQ(wargs->name, "s");
  }
}

TEST(ConvertTest, SecretFormatIsCheckedWithoutEchoingTheSecret) {
  EXPECT_THAT(CheckSecretFormat(""),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("missing")));
  for (const std::string& bad :
       {std::string("not-a-secret"), std::string(32, 'G'), std::string(31, 'a'),
        std::string(33, 'a'), std::string("0123456789ABCDEF0123456789abcdef"),
        std::string(32, '\0')}) {
    SCOPED_TRACE(bad);
    EXPECT_THAT(CheckSecretFormat(bad),
                StatusIs(absl::StatusCode::kUnauthenticated,
                         AllOf(HasSubstr("malformed"), Not(HasSubstr(bad)))));
  }
  EXPECT_THAT(CheckSecretFormat("0123456789abcdef0123456789abcdef"), IsOk());
}

TEST(ConvertTest, SnapshotsBecomeStatesWithPublicSessionIds) {
  SemaphoreSnapshot snap;
  snap.name = "printer";
  snap.limit = 3;
  snap.permits_held = 2;
  snap.waiter_count = 4;
  snap.holders.push_back(
      HolderSnapshot{0xabc, "billing", GrantInfo{77, 2, absl::FromUnixSeconds(10)}});
  snap.holder_count = 1;
  const v1::SemaphoreState state = ToSemaphoreState(snap);
  EXPECT_EQ(state.name(), "printer");
  EXPECT_TRUE(state.set());
  EXPECT_EQ(state.limit(), 3);
  EXPECT_EQ(state.permits_held(), 2);
  EXPECT_EQ(state.waiter_count(), 4);
  EXPECT_EQ(state.holder_count(), 1);
  ASSERT_EQ(state.holders_size(), 1);
  EXPECT_EQ(state.holders(0).session_id(), FormatSessionId(0xabc));
  EXPECT_EQ(state.holders(0).client_name(), "billing");
  EXPECT_EQ(state.holders(0).grant().fencing_token(), 77u);
  EXPECT_EQ(state.holders(0).grant().permits(), 2);
  EXPECT_EQ(state.holders(0).grant().grant_time().seconds(), 10);

  SetOutcome refused;
  refused.state = snap;
  v1::SetSemaphoreResponse response = ToSetSemaphoreResponse(refused);
  EXPECT_FALSE(response.acquired());
  EXPECT_FALSE(response.has_grant());
  EXPECT_EQ(response.state().holders(0).client_name(), "billing");

  SetOutcome granted;
  granted.acquired = true;
  granted.already_held = true;
  granted.grant = GrantInfo{99, 1, absl::FromUnixSeconds(20)};
  response = ToSetSemaphoreResponse(granted);
  EXPECT_TRUE(response.acquired());
  EXPECT_TRUE(response.already_held());
  EXPECT_EQ(response.grant().fencing_token(), 99u);
  EXPECT_FALSE(response.has_state());

  EXPECT_FALSE(ToSemaphoreState(SemaphoreSnapshot{}).set());
}

TEST(ConvertTest, StatesCarryTheHolderCountBesideTheListedHolders) {
  // The core lists the first holders (CoreOptions::max_listed_holders) and counts all.
  SemaphoreSnapshot snap;
  snap.name = "pool";
  snap.limit = 10;
  snap.permits_held = 5;
  snap.holder_count = 5;
  for (uint64_t i = 1; i <= 3; ++i) {
    snap.holders.push_back(
        HolderSnapshot{i, absl::StrCat("c", i), GrantInfo{i, 1, absl::FromUnixSeconds(10)}});
  }
  const v1::SemaphoreState state = ToSemaphoreState(snap);
  EXPECT_EQ(state.holder_count(), 5);
  ASSERT_EQ(state.holders_size(), 3);
  for (int i = 0; i < 3; ++i) {  // in the snapshot's order, oldest grant first
    EXPECT_EQ(state.holders(i).grant().fencing_token(), static_cast<uint64_t>(i + 1));
  }
  SetOutcome refused;
  refused.state = snap;
  EXPECT_EQ(ToSetSemaphoreResponse(refused).state().holder_count(), 5);
  WaitClearOutcome waited;
  waited.state = snap;
  const v1::WaitSemaphoreClearResponse w = ToWaitSemaphoreClearResponse(waited);
  EXPECT_EQ(w.state().holders_size(), 3);
  EXPECT_EQ(w.state().holder_count(), 5);
}

}  // namespace
}  // namespace semaphored::server
