// Tests of the name rules for semaphores and client names, and of how messages quote names.

#include "common/names.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/status_matchers.h"

namespace semaphored::internal {
namespace {

using ::semaphored::testing::IsOk;
using ::semaphored::testing::StatusIs;
using ::testing::HasSubstr;

TEST(NamesTest, EachRuleIsCheckedAndNamed) {
  struct Case {
    const char* what;
    std::string name;
    const char* message;  // nullptr: valid
  } cases[] = {
      {"plain", "printer", nullptr},
      {"utf8", "imprimante-\xc3\xa9t\xc3\xa9", nullptr},
      {"255 bytes", std::string(255, 'a'), nullptr},
      {"dollar", "$local", nullptr},
      {"empty", "", "is empty"},
      {"256 bytes", std::string(256, 'a'), "256 bytes long"},
      {"bad lead byte", "a\xff", "not valid UTF-8"},
      {"truncated sequence", "a\xc3", "not valid UTF-8"},
      {"overlong", "\xc0\xaf", "not valid UTF-8"},
      {"surrogate", "\xed\xa0\x80", "not valid UTF-8"},
      {"newline", "a\nb", "control character at offset 1"},
      {"nul", std::string("a\0b", 3), "control character"},
      {"del", "a\x7f", "control character"},
      {"c1 control", "a\xc2\x85", "control character"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    if (c.message == nullptr) {
      EXPECT_THAT(ValidateName(c.name), IsOk());
    } else {
      EXPECT_THAT(ValidateName(c.name),
                  StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)));
    }
  }
}

TEST(NamesTest, GlobalNamesMustNotStartWithDollar) {
  EXPECT_THAT(ValidateGlobalName("$x"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("local semaphore")));
  EXPECT_THAT(ValidateGlobalName("x$"), IsOk());
  EXPECT_THAT(ValidateGlobalName(""), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(NamesTest, ClientNameMayBeEmptyButNotTooLong) {
  EXPECT_THAT(ValidateClientName(""), IsOk());
  EXPECT_THAT(ValidateClientName(std::string(256, 'c')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("client name")));
}

TEST(NamesTest, QuoteNameEscapesAndShortens) {
  EXPECT_EQ(QuoteName("a\nb"), "\"a\\nb\"");
  EXPECT_EQ(QuoteName(std::string(100, 'x')), "\"" + std::string(64, 'x') + "...\"");
}

}  // namespace
}  // namespace semaphored::internal
