// attack_driver: runs one attack against a semaphored server on loopback.
//
//   attack_driver ATTACK --target=127.0.0.1:PORT [--metrics=127.0.0.1:PORT]
//                 [--seconds=S] [--count=N] [--bytes=B] [--concurrency=C]
//   attack_driver list
//
// Prints one line "result ATTACK key=value ..." on stdout: what the attack did and
// what it saw of the server's answers. Judging the server (still up, memory, health)
// is the caller's part (tests/attacks/attack_test.cc). Exit status: 0 when the attack
// ran, 2 for bad usage.

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "tests/attacks/attacks.h"

ABSL_FLAG(std::string, target, "", "The gRPC address, 127.0.0.1:PORT.");
ABSL_FLAG(std::string, metrics, "", "The metrics HTTP address, 127.0.0.1:PORT.");
ABSL_FLAG(double, seconds, 0, "How long the attack runs (0: its default).");
ABSL_FLAG(int64_t, count, 0, "The attack's count (0: its default).");
ABSL_FLAG(int64_t, bytes, 0, "The attack's size in bytes (0: its default).");
ABSL_FLAG(int64_t, concurrency, 0, "The attack's concurrency (0: its default).");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Runs one attack against a semaphored server on loopback: attack_driver ATTACK "
      "--target=127.0.0.1:PORT (attack_driver list names them).");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  using semaphored::testing::AllAttacks;
  if (args.size() == 2 && std::string(args[1]) == "list") {
    for (const auto& a : AllAttacks()) std::printf("%-26s %s\n", a.name, a.help);
    return 0;
  }
  if (args.size() != 2) {
    std::fprintf(stderr, "usage: attack_driver ATTACK --target=HOST:PORT (or: list)\n");
    return 2;
  }
  const std::string name = args[1];
  for (const auto& attack : AllAttacks()) {
    if (name != attack.name) continue;
    semaphored::testing::AttackTarget target;
    target.grpc_address = absl::GetFlag(FLAGS_target);
    target.metrics_address = absl::GetFlag(FLAGS_metrics);
    if (target.grpc_address.empty()) {
      std::fprintf(stderr, "attack_driver: --target is required\n");
      return 2;
    }
    semaphored::testing::AttackOptions options = attack.defaults;
    if (absl::GetFlag(FLAGS_seconds) > 0) {
      options.duration = absl::Seconds(absl::GetFlag(FLAGS_seconds));
    }
    if (absl::GetFlag(FLAGS_count) > 0) options.count = absl::GetFlag(FLAGS_count);
    if (absl::GetFlag(FLAGS_bytes) > 0) options.bytes = absl::GetFlag(FLAGS_bytes);
    if (absl::GetFlag(FLAGS_concurrency) > 0) {
      options.concurrency = absl::GetFlag(FLAGS_concurrency);
    }
    const semaphored::testing::AttackReport report = attack.run(target, options);
    std::printf("result %s %s\n", attack.name, report.ToLine().c_str());
    std::fflush(stdout);
    // Leave at once: the attack's channels and threads are the kernel's to clean up.
    std::_Exit(0);
  }
  std::fprintf(stderr, "attack_driver: no attack named \"%s\" (try: list)\n", name.c_str());
  return 2;
}
