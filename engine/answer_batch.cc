// AnswerBatch: work deferred to the end of a run of answers, once per key.

#include "engine/answer_batch.h"

#include <algorithm>

namespace semaphored::engine {
namespace {

thread_local AnswerBatch* current = nullptr;

}  // namespace

AnswerBatch::AnswerBatch() : outer_(current) {
  if (outer_ == nullptr) current = this;
}

AnswerBatch::~AnswerBatch() {
  if (outer_ != nullptr) return;
  // Closed before the work runs: what it starts, it does at once.
  current = nullptr;
  for (auto& [key, fn] : work_) fn();
}

bool AnswerBatch::Open() { return current != nullptr; }

bool AnswerBatch::Defer(const void* key, absl::AnyInvocable<void()> fn) {
  AnswerBatch* batch = current;
  if (batch == nullptr) return false;
  auto& work = batch->work_;
  const bool kept = std::any_of(work.begin(), work.end(),
                                [key](const auto& entry) { return entry.first == key; });
  if (!kept) work.emplace_back(key, std::move(fn));
  return true;
}

}  // namespace semaphored::engine
