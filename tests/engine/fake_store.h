#ifndef SEMAPHORED_TESTS_ENGINE_FAKE_STORE_H_
#define SEMAPHORED_TESTS_ENGINE_FAKE_STORE_H_

// For the engine's durability tests: a Store that records the batches it commits,
// can hold a commit until released (to show what the engine does meanwhile), and can
// fail; and a readable text of an effect.

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/store.h"

namespace semaphored::internal {

class FakeStore final : public engine::Store {
 public:
  absl::StatusOr<engine::StoredState> Load() override { return engine::StoredState{}; }

  // Records `batch` (or fails with the error set by FailWith, recording nothing),
  // after waiting, while the store is blocked, until Unblock().
  absl::Status Commit(const engine::EffectBatch& batch) override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    ++commits_started_;
    mu_.Await(absl::Condition(
        +[](bool* blocked) { return !*blocked; }, &blocked_));
    if (!fail_.ok()) return fail_;
    batches_.push_back(batch);
    return absl::OkStatus();
  }
  std::string Describe() const override { return "fake store"; }
  bool durable() const override { return true; }

  void Block() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    blocked_ = true;
  }
  void Unblock() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    blocked_ = false;
  }
  void FailWith(absl::Status error) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    fail_ = std::move(error);
  }
  // Waits (at most 10 s) until `n` commits have started; false if they have not.
  bool AwaitCommitsStarted(int n) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    struct Arg {
      const int* started;
      int n;
    } arg{&commits_started_, n};
    return mu_.AwaitWithTimeout(
        absl::Condition(+[](Arg* a) { return *a->started >= a->n; }, &arg),
        absl::Seconds(10));
  }
  int commits_started() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return commits_started_;
  }
  std::vector<engine::EffectBatch> batches() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return batches_;
  }

 private:
  mutable absl::Mutex mu_;
  bool blocked_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status fail_ ABSL_GUARDED_BY(mu_);
  int commits_started_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<engine::EffectBatch> batches_ ABSL_GUARDED_BY(mu_);
};

// One line per effect, naming sessions by the names a test gave them ("?" for others)
// and leaving out times and secrets: "HolderAdded x A permits=1 token=1".
class EffectText {
 public:
  void Name(engine::SessionId id, std::string name) { names_[id] = std::move(name); }

  std::string operator()(const engine::Effect& e) const {
    return std::visit([this](const auto& v) { return Text(v); }, e);
  }
  std::vector<std::string> operator()(const engine::EffectBatch& batch) const {
    std::vector<std::string> out;
    for (const engine::Effect& e : batch.effects) out.push_back((*this)(e));
    return out;
  }

 private:
  std::string S(engine::SessionId id) const {
    auto it = names_.find(id);
    return it == names_.end() ? "?" : it->second;
  }
  std::string Text(const engine::SessionOpened& e) const {
    return absl::StrCat("SessionOpened ", S(e.session), " client=", e.client_name,
                        " ttl=", absl::FormatDuration(e.ttl));
  }
  std::string Text(const engine::SessionEnded& e) const {
    return absl::StrCat("SessionEnded ", S(e.session));
  }
  std::string Text(const engine::SemaphoreCreated& e) const {
    return absl::StrCat("SemaphoreCreated ", e.name, " limit=", e.limit);
  }
  std::string Text(const engine::SemaphoreErased& e) const {
    return absl::StrCat("SemaphoreErased ", e.name);
  }
  std::string Text(const engine::HolderAdded& e) const {
    return absl::StrCat("HolderAdded ", e.name, " ", S(e.session), " permits=", e.permits,
                        " token=", e.fencing_token);
  }
  std::string Text(const engine::HolderRemoved& e) const {
    return absl::StrCat("HolderRemoved ", e.name, " ", S(e.session));
  }
  std::string Text(const engine::WaiterQueued& e) const {
    return absl::StrCat("WaiterQueued ", e.waiter, " ", e.name, " ", S(e.session),
                        e.wait_for_clear ? " clear" : " set",
                        e.wait_for_clear ? "" : absl::StrCat(" permits=", e.permits),
                        e.seq == 0 ? "" : absl::StrCat(" #", e.seq));
  }
  std::string Text(const engine::WaiterRemoved& e) const {
    return absl::StrCat("WaiterRemoved ", e.waiter);
  }
  std::string Text(const engine::TokenHighWater& e) const {
    return absl::StrCat("TokenHighWater ", e.high_water);
  }
  // "CommandOutcome A #3 set acquired token=5", "... clear released=1",
  // "... wait-clear clear", "... set error=FAILED_PRECONDITION".
  std::string Text(const engine::CommandOutcome& e) const {
    std::string out = absl::StrCat("CommandOutcome ", S(e.session), " #", e.seq);
    if (e.code != absl::StatusCode::kOk) {
      absl::StrAppend(&out, e.kind == engine::CommandKind::kSet     ? " set"
                            : e.kind == engine::CommandKind::kClear ? " clear"
                                                                    : " wait-clear",
                      " error=", absl::StatusCodeToString(e.code));
      return out;
    }
    switch (e.kind) {
      case engine::CommandKind::kSet:
        absl::StrAppend(&out, " set ", e.acquired ? "acquired" : "not-acquired");
        if (e.already_held) absl::StrAppend(&out, " already-held");
        if (e.acquired) absl::StrAppend(&out, " token=", e.grant.fencing_token);
        break;
      case engine::CommandKind::kClear:
        absl::StrAppend(&out, " clear released=", e.released);
        break;
      case engine::CommandKind::kWaitClear:
        absl::StrAppend(&out, " wait-clear ", e.clear ? "clear" : "not-clear");
        break;
    }
    return out;
  }
  std::string Text(const engine::CommandsAcked& e) const {
    return absl::StrCat("CommandsAcked ", S(e.session), " ", absl::StrJoin(e.seqs, ","));
  }

  std::map<engine::SessionId, std::string> names_;
};

}  // namespace semaphored::internal

#endif  // SEMAPHORED_TESTS_ENGINE_FAKE_STORE_H_
