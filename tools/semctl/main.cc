// semctl: the command-line client of semaphored for scripts and operators; picks
// the subcommand. See `semctl --help`.
#include <cstdio>
#include <string>

#include "cli.h"
#include "commands.h"
#include "signals.h"

namespace {

using semaphored::semctl::Options;

struct Subcommand {
  const char* name;
  int (*run)(const Options&);
};

constexpr Subcommand kSubcommands[] = {
    {"set", semaphored::semctl::SetCommand},
    {"clear", semaphored::semctl::ClearCommand},
    {"test", semaphored::semctl::TestCommand},
    {"wait-clear", semaphored::semctl::WaitClearCommand},
    {"list", semaphored::semctl::ListCommand},
    {"sessions", semaphored::semctl::SessionsCommand},
    {"force-clear", semaphored::semctl::ForceClearCommand},
    {"drain", semaphored::semctl::DrainCommand},
    {"cluster", semaphored::semctl::ClusterCommand},
    {"health", semaphored::semctl::HealthCommand},
    {"run", semaphored::semctl::RunCommand},
};

}  // namespace

int main(int argc, char** argv) {
  // First, before the client library starts any thread (see signals.h).
  semaphored::semctl::BlockSignals();
  namespace sc = semaphored::semctl;
  Options options;
  if (absl::Status s = sc::ParseCommandLine(argc, argv, options); !s.ok()) {
    return sc::Fail(sc::kUsage, std::string(s.message()) + " (see semctl --help)");
  }
  if (options.command == "help") {
    options.help = true;
    options.command = options.args.empty() ? "" : options.args[0];
  }
  if (options.help) {
    std::fputs(sc::HelpText(options.command).c_str(), stdout);
    return sc::kOk;
  }
  if (options.command.empty()) {
    std::fputs(sc::HelpText("").c_str(), stderr);
    return sc::kUsage;
  }
  if (!options.argv.empty() && options.command != "run") {
    return sc::Fail(sc::kUsage, "only `run` takes a COMMAND after \"--\"");
  }
  for (const auto& sub : kSubcommands) {
    if (options.command == sub.name) return sub.run(options);
  }
  return sc::Fail(sc::kUsage,
                  "unknown subcommand \"" + options.command + "\" (see semctl --help)");
}
