// Prints how long a data dir with many holders takes to open and load.
//
// Usage: store_load_bench [HOLDERS] [DIR]   (defaults: 100000, a new temp dir)
// Writes HOLDERS semaphores, each held by one of 1000 sessions, in batches of 10,000
// effects, closes the store, then times SqliteStore::Open and Load.
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

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
      batch.effects.push_back(engine::SessionOpened{static_cast<uint64_t>(s), "secret-0123456789",
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
  return loaded == static_cast<size_t>(holders) ? 0 : 1;
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
