#include "local_core.h"

#include "server/core/fencing.h"
#include "server/core/ticker.h"

namespace semaphored::internal {
namespace {

CoreOptions LocalOptions() {
  CoreOptions options;
  options.sessions_expire = false;
  options.time_holds = false;
  return options;
}

struct ProcessCore {
  ProcessCore() : core(RealClock::Get(), &tokens, LocalOptions()), ticker(&core) {}
  CounterTokenSource tokens;
  Core core;
  Ticker ticker;
};

}  // namespace

LocalCore ProcessLocalCore() {
  static ProcessCore* const process_core = new ProcessCore;
  return LocalCore{&process_core->core, RealClock::Get()};
}

}  // namespace semaphored::internal
