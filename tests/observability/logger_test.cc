// Tests of the server's logger: text and JSON line formats, escaping, sinks, levels and threads.

#include "server/observability/logger.h"

#include <unistd.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/observability/log_format.h"
#include "tests/observability/json_check.h"

namespace semaphored::server {

using ::semaphored::internal::FakeClock;
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Records every line written; checks each is one whole line.
class CaptureSink : public LogSink {
 public:
  void Write(absl::string_view line) override {
    absl::MutexLock lock(&mu_);
    lines_.emplace_back(line);
  }
  std::vector<std::string> lines() const {
    absl::MutexLock lock(&mu_);
    return lines_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

const absl::Time kT = absl::FromUnixMillis(1795428000123);  // 2026-11-23T10:00:00.123Z

std::string Json(absl::string_view text) {
  std::string out;
  AppendJsonString(text, &out);
  return out;
}

TEST(LogFormatTest, TimeIsUtcWithMilliseconds) {
  EXPECT_EQ(FormatLogTime(kT), "2026-11-23T10:00:00.123Z");
  EXPECT_EQ(FormatLogTime(absl::FromUnixSeconds(0)), "1970-01-01T00:00:00.000Z");
}

TEST(LogFormatTest, JsonStringsEscapeQuotesBackslashesAndControls) {
  struct Case {
    std::string in;
    const char* want;
  } cases[] = {
      {"plain", "\"plain\""},
      {"say \"hi\"", R"("say \"hi\"")"},
      {"a\\b", R"("a\\b")"},
      {"two\nlines\r\tx", R"("two\nlines\r\tx")"},
      {std::string("nul\0bell\a", 9), R"("nul\u0000bell\u0007")"},
      {"esc\x1b del\x7f", R"("esc\u001b del\u007f")"},
      {"caf\xc3\xa9 \xf0\x9f\x94\x92", "\"caf\xc3\xa9 \xf0\x9f\x94\x92\""},  // valid UTF-8 kept
      {"bad\xff", R"("bad\ufffd")"},
      {"\xc0\xaf", R"("\ufffd\ufffd")"},            // overlong
      {"\xed\xa0\x80", R"("\ufffd\ufffd\ufffd")"},  // surrogate
      {"\xe2\x82", R"("\ufffd\ufffd")"},            // truncated
      {"\xf4\x90\x80\x80", R"("\ufffd\ufffd\ufffd\ufffd")"},  // above U+10FFFF
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.want);
    EXPECT_EQ(Json(c.in), c.want);
  }
}

TEST(LogFormatTest, OnlySafeWordsAreLeftBareInText) {
  for (const char* bare : {"0123abcd", "ipv4:127.0.0.1:5000", "[::1]:80", "a-b_c.d/e@f+g,h"}) {
    EXPECT_TRUE(IsBareWord(bare)) << bare;
  }
  for (const char* quoted : {"", "two words", "a=b", "q\"", "caf\xc3\xa9", "tab\t", "#"}) {
    EXPECT_FALSE(IsBareWord(quoted)) << quoted;
  }
}

TEST(LoggerTest, FormatsTextLines) {
  const std::vector<LogField> fields = {{"session", "0123abcd01234567"},
                                        {"client", "build bot"},
                                        {"peer", "ipv4:127.0.0.1:5000"},
                                        {"held", 3},
                                        {"ok", true},
                                        {"ttl", absl::Milliseconds(1500)},
                                        {"empty", ""}};
  EXPECT_EQ(Logger::FormatLine(LogFormat::kText, kT, LogLevel::kInfo, "session_start", fields),
            "2026-11-23T10:00:00.123Z INFO session_start session=0123abcd01234567 "
            "client=\"build bot\" peer=ipv4:127.0.0.1:5000 held=3 ok=true ttl=1.5s "
            "empty=\"\"\n");
}

TEST(LoggerTest, TextValuesCannotForgeFieldsOrLines) {
  const std::vector<LogField> fields = {{"client", "x\" admin=yes\nFAKE LINE"}};
  const std::string line =
      Logger::FormatLine(LogFormat::kText, kT, LogLevel::kWarn, "session_end", fields);
  EXPECT_EQ(line,
            "2026-11-23T10:00:00.123Z WARN session_end "
            "client=\"x\\\" admin=yes\\nFAKE LINE\"\n");
  EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1);
}

TEST(LoggerTest, FormatsJsonLinesWithTypedValues) {
  const std::vector<LogField> fields = {
      {"session", "0123abcd01234567"}, {"held", int64_t{-42}}, {"ok", false}};
  EXPECT_EQ(Logger::FormatLine(LogFormat::kJson, kT, LogLevel::kError, "drain", fields),
            "{\"ts\":\"2026-11-23T10:00:00.123Z\",\"level\":\"ERROR\",\"event\":\"drain\","
            "\"session\":\"0123abcd01234567\",\"held\":-42,\"ok\":false}\n");
}

// Whatever the values hold, each JSON line parses and gives back the values.
TEST(LoggerTest, JsonLinesAreValidAndRoundTrip) {
  const std::string nasty[] = {
      "quote\" backslash\\ slash/", "new\nline\r\n", std::string("ctl\0\x01\x1f\x7f", 6),
      "caf\xc3\xa9 \xe2\x82\xac", "}{\":,[]", ""};
  for (const std::string& value : nasty) {
    SCOPED_TRACE(value);
    const std::vector<LogField> fields = {{"client", value}, {"n", 7u}};
    const std::string line =
        Logger::FormatLine(LogFormat::kJson, kT, LogLevel::kInfo, "session_start", fields);
    ASSERT_FALSE(line.empty());
    ASSERT_EQ(line.back(), '\n');
    EXPECT_EQ(line.find('\n'), line.size() - 1);
    FlatJsonParser parser;
    auto members = parser.Parse(absl::string_view(line).substr(0, line.size() - 1));
    ASSERT_TRUE(members.has_value()) << parser.error() << ": " << line;
    ASSERT_EQ(members->size(), 5u);
    EXPECT_EQ((*members)[0].first, "ts");
    EXPECT_EQ((*members)[1].second.text, "INFO");
    EXPECT_EQ((*members)[2].second.text, "session_start");
    EXPECT_EQ((*members)[3].first, "client");
    EXPECT_EQ((*members)[3].second.kind, JsonValue::kString);
    EXPECT_EQ((*members)[3].second.text, value);
    EXPECT_EQ((*members)[4].second.kind, JsonValue::kNumber);
    EXPECT_EQ((*members)[4].second.text, "7");
  }
}

TEST(LoggerTest, WritesToTheSinkWithTheClockAndDropsLevelsBelowTheMinimum) {
  CaptureSink sink;
  FakeClock clock(kT);
  LoggerOptions options;
  options.sink = &sink;
  options.clock = &clock;
  options.min_level = LogLevel::kInfo;
  Logger logger(options);
  logger.Log(LogLevel::kDebug, "noise", {{"a", 1}});
  logger.Log(LogLevel::kInfo, "admin_drain", {{"by", "ipv4:127.0.0.1:1"}});
  clock.Advance(absl::Seconds(1));
  logger.Log(LogLevel::kWarn, "drain");
  EXPECT_THAT(sink.lines(),
              ElementsAre("2026-11-23T10:00:00.123Z INFO admin_drain by=ipv4:127.0.0.1:1\n",
                          "2026-11-23T10:00:01.123Z WARN drain\n"));
}

TEST(LoggerTest, LinesFromManyThreadsArriveWhole) {
  CaptureSink sink;
  LoggerOptions options;
  options.sink = &sink;
  options.format = LogFormat::kJson;
  Logger logger(options);
  constexpr int kThreads = 8, kLines = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&logger, t] {
      for (int i = 0; i < kLines; ++i) {
        logger.Log(LogLevel::kInfo, "session_start", {{"thread", t}, {"i", i}});
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const std::vector<std::string> lines = sink.lines();
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads * kLines));
  for (const std::string& line : lines) {
    ASSERT_EQ(line.find('\n'), line.size() - 1) << line;
    FlatJsonParser parser;
    ASSERT_TRUE(parser.Parse(absl::string_view(line).substr(0, line.size() - 1)))
        << parser.error();
  }
}

TEST(FdLogSinkTest, WritesLinesToItsDescriptor) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  FdLogSink sink(fds[1]);
  sink.Write("one line\n");
  sink.Write("two\n");
  ::close(fds[1]);
  std::string got;
  char buf[64];
  // Bounded: the write end is closed, so read() reaches end of file.
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) {
    got.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  EXPECT_EQ(got, "one line\ntwo\n");
}

TEST(LogFormatFlagTest, ParsesTextAndJsonOnly) {
  LogFormat format = LogFormat::kText;
  std::string error;
  EXPECT_TRUE(AbslParseFlag("json", &format, &error));
  EXPECT_EQ(format, LogFormat::kJson);
  EXPECT_EQ(AbslUnparseFlag(format), "json");
  EXPECT_TRUE(AbslParseFlag("text", &format, &error));
  EXPECT_EQ(format, LogFormat::kText);
  EXPECT_FALSE(AbslParseFlag("xml", &format, &error));
  EXPECT_THAT(error, HasSubstr("use text or json"));
}

}  // namespace
}  // namespace semaphored::server
