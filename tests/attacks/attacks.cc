// The attack suite's table of attacks with their default sizes, and the attacks' report lines.

#include "tests/attacks/attacks.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace semaphored::testing {

void AttackReport::Add(const std::string& key, int64_t value) {
  fields_.emplace_back(key, absl::StrCat(value));
}

void AttackReport::Add(const std::string& key, double value) {
  fields_.emplace_back(key, absl::StrFormat("%.3f", value));
}

void AttackReport::Add(const std::string& key, absl::string_view value) {
  std::string text(value);
  for (char& c : text) {
    if (c == ' ' || c == '\n' || c == '\t') c = '_';
  }
  fields_.emplace_back(key, text.empty() ? "-" : text);
}

std::string AttackReport::ToLine() const {
  std::string line;
  for (const auto& [key, value] : fields_) {
    absl::StrAppend(&line, line.empty() ? "" : " ", key, "=", value);
  }
  return line;
}

std::map<std::string, std::string> ParseReportLine(absl::string_view line) {
  std::map<std::string, std::string> fields;
  for (absl::string_view field : absl::StrSplit(line, ' ', absl::SkipEmpty())) {
    const size_t eq = field.find('=');
    if (eq == absl::string_view::npos) continue;
    fields[std::string(field.substr(0, eq))] = std::string(field.substr(eq + 1));
  }
  return fields;
}

const std::vector<AttackSpec>& AllAttacks() {
  // {duration, count, bytes, concurrency}: the defaults, sized to finish in about
  // ten seconds on two cores and to show each problem on the server before these defences.
  static const std::vector<AttackSpec> kAttacks = {
      {"control", "no attack: one session, one ping, then quiet (the control case)",
       &Control, {absl::Seconds(2), 0, 0, 0}},
      {"test_amplification",
       "1,000 sessions hold a counting semaphore; one 48 KiB StreamSession message of "
       "`test` commands on it, its answers left unread",
       &TestAmplification, {absl::Seconds(5), 1000, 48 * 1024, 0}},
      {"stream_flood", "StreamSession streams opened on one connection, none ever used",
       &StreamFlood, {absl::Seconds(8), 200'000, 0, 0}},
      {"hand_on", "session B waits on N names held by A; A closes",
       &HandOn, {absl::Seconds(60), 10'000, 0, 0}},
      {"session_flood",
       "CreateSession as fast as possible from one peer, past the default max_sessions",
       &SessionFlood, {absl::Seconds(20), 110'000, 0, 256}},
      {"hold_flood", "one client's sessions set as many names as they can",
       &HoldFlood, {absl::Seconds(8), 2'000'000, 0, 16}},
      {"admin_drain_forwarder", "Drain without a token through a plain TCP forwarder",
       &AdminDrainThroughForwarder, {absl::Seconds(5), 0, 0, 0}},
      {"admin_token_guessing", "wrong admin tokens as fast as possible, through a forwarder",
       &AdminTokenGuessing, {absl::Seconds(3), 0, 0, 4}},
      {"rapid_reset", "HEADERS then RST_STREAM, again and again (CVE-2023-44487)",
       &RapidReset, {absl::Seconds(8), 400'000, 0, 4}},
      {"continuation_flood",
       "a header block that never ends: CONTINUATION frames (CVE-2023-33953)",
       &ContinuationFlood, {absl::Seconds(8), 0, 256 << 20, 16}},
      {"gzip_bomb", "grpc-encoding: gzip requests inflating to 60 MiB each",
       &GzipBomb, {absl::Seconds(8), 400, 60 << 20, 8}},
      {"metrics_chunked_post", "a chunked POST body without end to the metrics port",
       &MetricsChunkedPost, {absl::Seconds(8), 0, int64_t{768} << 20, 0}},
      {"metrics_slowloris",
       "two connections send a byte every 1.5 s while GET /metrics is scraped",
       &MetricsSlowloris, {absl::Seconds(8), 0, 0, 2}},
      {"metrics_connection_flood",
       "1,100 idle connections to the metrics port; new gRPC connections meanwhile",
       &MetricsConnectionFlood, {absl::Seconds(4), 1100, 0, 0}},
  };
  return kAttacks;
}

}  // namespace semaphored::testing
