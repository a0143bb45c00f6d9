// Prints how long a data dir with many holders takes to open and load, and the engine
// to restore what was loaded.
//
// Usage: store_load_bench [HOLDERS] [DIR]   (defaults: 100000, a new temp dir)
// Writes HOLDERS semaphores, each held by one of 1000 sessions, in batches of 10,000
// effects, closes the store, then times SqliteStore::Open, Load and Core::Restore.
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "engine/core.h"
#include "engine/counter_token_source.h"
#include "store/sqlite_store.h"

namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

int Run(int holders, const std::string& dir) {
  namespace engine = semaphored::engine;
  using semaphored::store::SqliteStore;
  constexpr int kSessions = 1000;
  {
    auto store = SqliteStore::Open(dir);
    if (!store.ok()) return std::fprintf(stderr, "%s\n", store.status().ToString().c_str()), 1;
    const auto start = Clock::now();
    engine::EffectBatch batch;
    for (int s = 1; s <= kSessions; ++s) {
      // Distinct secrets (32 characters, as the engine's): Restore refuses a shared one.
      batch.effects.push_back(engine::SessionOpened{
          static_cast<uint64_t>(s), absl::StrCat("secret-0123456789abcdef-", 100000 + s),
          "bench", "127.0.0.1", absl::Seconds(30)});
    }
    const absl::Time now = absl::Now();
    for (int i = 0; i < holders; ++i) {
      const std::string name = "semaphore-" + std::to_string(i);
      batch.effects.push_back(engine::SemaphoreCreated{name, 1});
      batch.effects.push_back(engine::HolderAdded{
          name, static_cast<uint64_t>(1 + i % kSessions), 1, static_cast<uint64_t>(i + 1), now});
      if (batch.effects.size() >= 10000 || i + 1 == holders) {
        if (i + 1 == holders) batch.effects.push_back(engine::TokenHighWater{uint64_t(i + 1)});
        if (auto s = (*store)->Commit(batch); !s.ok()) {
          return std::fprintf(stderr, "%s\n", s.ToString().c_str()), 1;
        }
        batch.effects.clear();
      }
    }
    std::printf("wrote %d holders in %.0f ms\n", holders, Ms(Clock::now() - start));
  }
  const auto open_start = Clock::now();
  auto store = SqliteStore::Open(dir);
  if (!store.ok()) return std::fprintf(stderr, "%s\n", store.status().ToString().c_str()), 1;
  const auto load_start = Clock::now();
  auto state = (*store)->Load();
  const auto end = Clock::now();
  if (!state.ok()) return std::fprintf(stderr, "%s\n", state.status().ToString().c_str()), 1;
  size_t loaded = 0;
  for (const auto& sem : state->semaphores) loaded += sem.holders.size();
  std::printf("open (with quick_check) %.0f ms, load %.0f ms: %zu sessions, %zu semaphores, "
              "%zu holders\n",
              Ms(load_start - open_start), Ms(end - load_start), state->sessions.size(),
              state->semaphores.size(), loaded);
  semaphored::internal::RealClock clock;
  engine::CounterTokenSource tokens(state->token_high_water);
  engine::CoreOptions options;
  options.store = store->get();
  engine::Core core(&clock, &tokens, options);
  const auto restore_start = Clock::now();
  const absl::Status restored = core.Restore(*state);
  const auto restore_end = Clock::now();
  if (!restored.ok()) return std::fprintf(stderr, "%s\n", restored.ToString().c_str()), 1;
  std::printf("restore %.0f ms: %lld sessions, %lld holders\n",
              Ms(restore_end - restore_start),
              static_cast<long long>(core.Counts().sessions),
              static_cast<long long>(core.Counts().held_semaphores));
  return loaded == static_cast<size_t>(holders) &&
                 core.Counts().held_semaphores == static_cast<int64_t>(holders)
             ? 0
             : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const int holders = argc > 1 ? std::atoi(argv[1]) : 100000;
  std::string dir;
  bool temporary = false;
  if (argc > 2) {
    dir = argv[2];
  } else {
    std::string tmpl = std::filesystem::temp_directory_path().string() + "/store_bench.XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) return std::perror("mkdtemp"), 1;
    dir = tmpl;
    temporary = true;
  }
  const int rc = Run(holders, dir);
  if (temporary) std::filesystem::remove_all(dir);
  return rc;
}
