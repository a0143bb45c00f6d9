#ifndef SEMAPHORED_TESTS_COMMON_STATUS_MATCHERS_H_
#define SEMAPHORED_TESTS_COMMON_STATUS_MATCHERS_H_

// StatusIs / IsOk matchers for absl::Status and absl::StatusOr (this Abseil has none).

#include <ostream>
#include <string>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace semaphored::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

// Matches a Status or StatusOr whose code is `code` and whose message matches
// `message_matcher` (anything by default).
MATCHER_P2(StatusIsImpl, code, message_matcher,
           "has code " + absl::StatusCodeToString(code)) {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status is " << s;
  return s.code() == code &&
         ::testing::Matches(message_matcher)(std::string(s.message()));
}

inline auto StatusIs(absl::StatusCode code) {
  return StatusIsImpl(code, ::testing::_);
}
template <typename M>
auto StatusIs(absl::StatusCode code, M message_matcher) {
  return StatusIsImpl(code, ::testing::MatcherCast<std::string>(message_matcher));
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status is " << s;
  return s.ok();
}

}  // namespace semaphored::testing

#define SEMAPHORED_ASSERT_OK_AND_ASSIGN_IMPL(var, tmp, expr) \
  auto tmp = (expr);                                         \
  ASSERT_TRUE(tmp.ok()) << tmp.status();                     \
  var = std::move(tmp).value()
#define SEMAPHORED_CONCAT_INNER(a, b) a##b
#define SEMAPHORED_CONCAT(a, b) SEMAPHORED_CONCAT_INNER(a, b)
// ASSERT_OK_AND_ASSIGN(auto x, StatusOrExpr());
#define ASSERT_OK_AND_ASSIGN(var, expr) \
  SEMAPHORED_ASSERT_OK_AND_ASSIGN_IMPL(var, SEMAPHORED_CONCAT(_status_or_, __LINE__), expr)

#endif  // SEMAPHORED_TESTS_COMMON_STATUS_MATCHERS_H_
