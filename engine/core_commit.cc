// The Core's durability: effects appended to the open batch, group commit, and the
// answers held back until the batch that makes them true has committed.

#include <algorithm>
#include <utility>
#include <vector>

#include "engine/answer_batch.h"
#include "engine/core.h"
#include "engine/core_internal.h"

namespace semaphored::engine {

void Core::SetCommitHook(std::function<void()> hook) { commit_hook_ = std::move(hook); }

void Core::SetAnswerHook(std::function<void()> hook) { answer_hook_ = std::move(hook); }

void Core::SetCommitFailedHook(std::function<void(const absl::Status&)> hook) {
  commit_failed_hook_ = std::move(hook);
}

void Core::Emit(Effect effect) {
  // The first effect of a batch while no commit runs: the committer has work. (While
  // one runs, the committer takes this batch when it is done.)
  if (batch_.effects.empty() && !committing_ && commit_hook_) commit_hook_();
  batch_.effects.push_back(std::move(effect));
  ++effect_seq_;
}

void Core::EmitCreated(Semaphore* sem) {
  if (sem->stored) return;
  sem->stored = true;
  Emit(SemaphoreCreated{sem->name, sem->limit});
}

void Core::HoldBack(absl::AnyInvocable<void()> fn) {
  held_back_.emplace_back(effect_seq_, std::move(fn));
}

void Core::HoldBack(Deferred& deferred) {
  if (Durable()) return;  // given at once, after the unlock
  for (auto& fn : deferred.Take()) held_back_.emplace_back(effect_seq_, std::move(fn));
}

void Core::WhenDurable(absl::AnyInvocable<void()> fn) {
  if (store_ != nullptr) {
    absl::MutexLock lock(&mu_);
    if (!Durable()) {
      HoldBack(std::move(fn));
      return;
    }
  }
  fn();
}

uint64_t Core::HoldBatch() {
  if (store_ == nullptr) return 0;
  absl::MutexLock lock(&mu_);
  ++batch_holds_;
  return hold_generation_;
}

void Core::EndBatchHold(uint64_t ticket) {
  if (store_ == nullptr) return;
  absl::MutexLock lock(&mu_);
  --(ticket == hold_generation_ ? batch_holds_ : older_holds_);
}

bool Core::CommitBatch() {
  if (store_ == nullptr) return false;
  EffectBatch batch;
  uint64_t end = 0;
  {
    absl::MutexLock lock(&mu_);
    if (committing_ || !commit_error_.ok() || batch_.effects.empty()) return false;
    // Waits for the holds open now; those opened while it waits go to the next batch.
    older_holds_ += std::exchange(batch_holds_, 0);
    ++hold_generation_;
    if (older_holds_ > 0) {
      mu_.AwaitWithTimeout(
          absl::Condition(+[](int64_t* holds) { return *holds == 0; }, &older_holds_),
          options_.max_batch_hold);
      if (committing_ || !commit_error_.ok()) return false;  // (a commit by hand meanwhile)
    }
    // One high-water per batch, at its end: the largest token it grants. Not counted
    // in effect_seq_: no answer waits for it in particular.
    if (token_high_water_ > recorded_high_water_) {
      batch_.effects.push_back(TokenHighWater{token_high_water_});
      recorded_high_water_ = token_high_water_;
    }
    committing_ = true;
    end = effect_seq_;
    std::swap(batch, batch_);
  }
  // Outside the lock: operations go on meanwhile, their effects into the next batch.
  if (CoreTracer* tracer = Tracer()) tracer->OnCommitting();
  const absl::Time start = clock_->Now();
  const absl::Status status = store_->Commit(batch);
  const absl::Duration took = clock_->Now() - start;
  const size_t effects = batch.effects.size();
  size_t released = 0;
  bool answer_here = true;
  {
    absl::MutexLock lock(&mu_);
    committing_ = false;
    if (!status.ok()) {
      // The memory is ahead of the store: nothing held back may be given, now or
      // later (Durable() stays false), and nothing is committed again.
      commit_error_ = status;
      batch_.effects.clear();
    } else {
      ++batches_committed_;
      // Answers released by this commit (earlier ones may still wait to be given).
      for (const auto& [ticket, fn] : held_back_) {
        if (ticket > end) break;
        if (ticket > committed_seq_) ++released;
      }
      committed_seq_ = end;
      if (batch_.effects.empty()) {
        // Reuse the committed batch's storage for the next one.
        batch.effects.clear();
        std::swap(batch, batch_);
      } else {
        if (commit_hook_) commit_hook_();  // effects arrived meanwhile: the next batch is due
        // The pipeline: the answers go to the answer thread while this one commits
        // the next batch. With no next batch this thread gives them itself, which
        // spares a light load (one client) a hand-off between threads.
        if (answer_hook_) {
          answer_here = false;
          if (released > 0) answer_hook_();
        }
      }
    }
  }
  if (!status.ok()) {
    if (commit_failed_hook_) commit_failed_hook_(status);
    return false;
  }
  listener_->OnBatchCommitted(effects, released, took);
  if (answer_here) GiveAnswers();
  return true;
}

void Core::GiveAnswers() {
  if (store_ == nullptr) return;
  // Answers are given in the order they were decided. Until every released answer has
  // been given (answering_ set or some still released in held_back_), Durable() is
  // false: one decided meanwhile, even one that waits for no effect, is held back and
  // given here after them, instead of at once on its own thread, where it could
  // overtake them.
  std::vector<absl::AnyInvocable<void()>> released;
  bool mine = false;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (answering_ && !mine) return;  // another thread gives them, in order
      // A server that may no longer answer gives nothing (they stay held back).
      if (options_.may_answer && !options_.may_answer()) {
        answering_ = false;
        return;
      }
      TakeReleased(&released);
      answering_ = mine = !released.empty();
      if (!mine) return;
    }
    // The answers of one round leave together: one write per stream.
    AnswerBatch together;
    for (auto& fn : released) fn();
    released.clear();
  }
}

void Core::TakeReleased(std::vector<absl::AnyInvocable<void()>>* released) {
  while (!held_back_.empty() && held_back_.front().first <= committed_seq_) {
    released->push_back(std::move(held_back_.front().second));
    held_back_.pop_front();
  }
}

uint64_t Core::BatchesCommitted() const {
  absl::MutexLock lock(&mu_);
  return batches_committed_;
}

StoredState Core::StateForStore() const {
  StoredState out;
  absl::MutexLock lock(&mu_);
  for (const auto& [id, s] : sessions_) {
    out.sessions.push_back(
        SessionOpened{id, s->secret, s->client_name, s->peer, s->ttl, s->last_seq});
    for (const auto& [seq, outcome] : s->outcomes) out.outcomes.push_back(outcome);
  }
  for (const auto& [name, sem] : semaphores_) {
    StoredSemaphore& stored = out.semaphores.emplace_back();
    stored.name = sem->name;
    stored.limit = sem->limit;
    for (int32_t i = sem->first; i >= 0; i = sem->holders[i].next) {
      const Semaphore::Holder& h = sem->holders[i];
      stored.holders.push_back(
          StoredHolder{h.session->id, h.permits, h.fencing_token, h.grant_time});
    }
    for (const Semaphore::Queue* q : {&sem->set_queue, &sem->clear_queue}) {
      for (const Waiter* w = q->head; w != nullptr; w = Semaphore::Queue::Next(w)) {
        stored.waiters.push_back(StoredWaiter{w->id, w->session->id, !w->is_set, w->permits,
                                              w->deadline, w->enqueue_time, w->seq});
      }
    }
    // Both queues are in id order (ids only grow); merged, the store's queue order.
    std::sort(stored.waiters.begin(), stored.waiters.end(),
              [](const StoredWaiter& a, const StoredWaiter& b) { return a.waiter < b.waiter; });
  }
  out.token_high_water = token_high_water_;
  out.last_waiter = last_waiter_id_;
  return out;
}

}  // namespace semaphored::engine
