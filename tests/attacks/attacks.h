#ifndef SEMAPHORED_TESTS_ATTACKS_ATTACKS_H_
#define SEMAPHORED_TESTS_ATTACKS_ATTACKS_H_

// The attacks, each a function that runs one attack against a semaphored
// server on loopback, bounded in count and in time, and reports what it did (and,
// where the attack itself observes it, how the server answered). Whether the server
// survived, and how its memory and health checks fared, is measured from outside by
// the caller (tests/attacks/attack_monitor.h): an attack never asserts anything.
//
// They run in the attack_driver process, never in the test's own (a client that
// holds 100,000 calls or 1,000 sockets should not share a process with the checks).

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace semaphored::testing {

struct AttackTarget {
  std::string grpc_address;     // "127.0.0.1:PORT"
  std::string metrics_address;  // "127.0.0.1:PORT"; empty when metrics are off
};

// How big and how long; each attack documents what `count`, `bytes` and
// `concurrency` mean for it. Zero: the attack's default.
struct AttackOptions {
  absl::Duration duration = absl::ZeroDuration();
  int64_t count = 0;
  int64_t bytes = 0;
  int64_t concurrency = 0;
};

// What an attack did, as ordered key=value pairs (values without spaces).
class AttackReport {
 public:
  void Add(const std::string& key, int64_t value);
  void Add(const std::string& key, double value);
  void Add(const std::string& key, absl::string_view value);
  // "key=value key=value ...".
  std::string ToLine() const;
  const std::vector<std::pair<std::string, std::string>>& fields() const { return fields_; }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};
// Parses ToLine()'s output back.
std::map<std::string, std::string> ParseReportLine(absl::string_view line);

using AttackFn = AttackReport (*)(const AttackTarget&, const AttackOptions&);
struct AttackSpec {
  const char* name;
  const char* help;
  AttackFn run;
  AttackOptions defaults;
};
// Every attack, by name.
const std::vector<AttackSpec>& AllAttacks();

// gRPC (tests/attacks/grpc_attacks.cc).
AttackReport Control(const AttackTarget& target, const AttackOptions& options);
AttackReport TestAmplification(const AttackTarget& target, const AttackOptions& options);
AttackReport HandOn(const AttackTarget& target, const AttackOptions& options);
AttackReport SessionFlood(const AttackTarget& target, const AttackOptions& options);
AttackReport HoldFlood(const AttackTarget& target, const AttackOptions& options);
// Admin (tests/attacks/admin_attacks.cc).
AttackReport AdminDrainThroughForwarder(const AttackTarget& target,
                                        const AttackOptions& options);
AttackReport AdminTokenGuessing(const AttackTarget& target, const AttackOptions& options);
// Raw HTTP/2 (tests/attacks/h2_attacks.cc).
AttackReport StreamFlood(const AttackTarget& target, const AttackOptions& options);
AttackReport RapidReset(const AttackTarget& target, const AttackOptions& options);
AttackReport ContinuationFlood(const AttackTarget& target, const AttackOptions& options);
AttackReport GzipBomb(const AttackTarget& target, const AttackOptions& options);
// The metrics HTTP port (tests/attacks/http_attacks.cc).
AttackReport MetricsChunkedPost(const AttackTarget& target, const AttackOptions& options);
AttackReport MetricsSlowloris(const AttackTarget& target, const AttackOptions& options);
AttackReport MetricsConnectionFlood(const AttackTarget& target,
                                    const AttackOptions& options);

}  // namespace semaphored::testing

#endif  // SEMAPHORED_TESTS_ATTACKS_ATTACKS_H_
