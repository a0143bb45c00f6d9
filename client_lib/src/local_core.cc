#include "local_core.h"

#include "engine/fencing.h"
#include "engine/ticker.h"

namespace semaphored::internal {

using engine::Core;
using engine::CoreOptions;
using engine::CounterTokenSource;
using engine::Ticker;

namespace {

CoreOptions LocalOptions() {
  CoreOptions options;
  options.sessions_expire = false;
  options.time_holds = false;
  // Every local session comes from this process: per-peer limits, meant for network
  // clients, do not apply (and cost no lookup when off).
  options.max_sessions_per_peer = 0;
  options.session_rate_per_peer = 0;
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
