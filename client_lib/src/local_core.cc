// ProcessLocalCore: the process-wide engine Core of '$' semaphores.

#include "local_core.h"

#include "engine/counter_token_source.h"
#include "engine/ticker.h"

namespace semaphored::internal {

using engine::Core;
using engine::CoreOptions;
using engine::CounterTokenSource;
using engine::Ticker;

namespace {

struct ProcessCore {
  ProcessCore() : core(RealClock::Get(), &tokens, CoreOptions::InProcess()), ticker(&core) {}
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
