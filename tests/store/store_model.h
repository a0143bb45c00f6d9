#ifndef SEMAPHORED_TESTS_STORE_STORE_MODEL_H_
#define SEMAPHORED_TESTS_STORE_STORE_MODEL_H_

// For the store tests: a plain in-memory model of what a store keeps, random batches
// of effects that are consistent with it, a canonical text of a StoredState to compare
// with, and a temporary data dir.

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "engine/store.h"

namespace semaphored::store::testing {

// Applies effects as the store port defines them, with maps instead of a database.
// The effects must be consistent with the state (see RandomBatch); Apply does not check.
class StoreModel {
 public:
  void Apply(const engine::Effect& effect);
  void Apply(const engine::EffectBatch& batch) {
    for (const engine::Effect& e : batch.effects) Apply(e);
  }
  // What Load must return (sessions by id, semaphores by name).
  engine::StoredState State() const;

  struct Semaphore {
    int32_t limit = 1;
    std::vector<engine::StoredHolder> holders;            // grant order
    std::map<engine::WaiterId, engine::StoredWaiter> waiters;  // queue order
  };
  const std::map<engine::SessionId, engine::SessionOpened>& sessions() const {
    return sessions_;
  }
  const std::map<std::string, Semaphore>& semaphores() const { return semaphores_; }
  // Kept outcomes by (session, seq).
  const std::map<std::pair<engine::SessionId, uint64_t>, engine::CommandOutcome>& outcomes()
      const {
    return outcomes_;
  }
  uint64_t token_high_water() const { return token_high_water_; }
  uint64_t last_waiter() const { return last_waiter_; }
  uint64_t last_session() const { return last_session_; }
  uint64_t last_token() const { return last_token_; }

 private:
  std::map<engine::SessionId, engine::SessionOpened> sessions_;
  std::map<std::string, Semaphore> semaphores_;
  std::map<std::pair<engine::SessionId, uint64_t>, engine::CommandOutcome> outcomes_;
  std::map<engine::WaiterId, std::string> waiter_semaphore_;
  uint64_t token_high_water_ = 0;
  uint64_t last_waiter_ = 0;
  uint64_t last_session_ = 0;
  uint64_t last_token_ = 0;  // the largest token of any HolderAdded (not stored)
};

// About `count` random effects (a session ends with its holders and waiters removed
// first, as the engine does, so a batch may run a little over) that are consistent
// with `model` and with each other: every kind of effect, a holder re-added, times
// with nanoseconds and infinite deadlines, secrets with NUL bytes, sequenced waiters,
// command outcomes of every kind (errors with messages) and acknowledgements.
engine::EffectBatch RandomBatch(const StoreModel& model, std::mt19937_64& rng, int count);

// A batch that removes everything `model` holds and then adds one new session holding
// `count` new semaphores, each with one sequenced waiter, and one command outcome per
// semaphore: before and after have nothing in common, so any part of it is visible.
engine::EffectBatch ReplaceEverything(const StoreModel& model, int count);

// Canonical text of a state, one record a line, for EXPECT_EQ with a readable diff.
std::string Dump(const engine::StoredState& state);

// A fresh directory under testing::TempDir(), removed (with what is in it) on
// destruction. path() is empty (and the test failed) when it could not be made.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace semaphored::store::testing

#endif  // SEMAPHORED_TESTS_STORE_STORE_MODEL_H_
