#ifndef SEMAPHORED_ENGINE_ANSWER_BATCH_H_
#define SEMAPHORED_ENGINE_ANSWER_BATCH_H_

#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"

namespace semaphored::engine {

// Answers given together leave together. A commit releases many answers at once,
// often several to one stream (the two commands of one message); sending each as it
// is given would cost one write (and one wake-up of the client) per answer. While an
// AnswerBatch is open on a thread, work an answer would start at once — a stream's
// write — can be deferred to the batch's close, once per key, so that it carries
// every answer given meanwhile.
//
// Thread-local: only work deferred on the opening thread waits for it. Batches nest
// (an inner one defers to the outermost).
class AnswerBatch {
 public:
  AnswerBatch();
  // Closes the batch, then runs the deferred work in the order it was deferred.
  ~AnswerBatch();
  AnswerBatch(const AnswerBatch&) = delete;
  AnswerBatch& operator=(const AnswerBatch&) = delete;

  // Whether a batch is open on this thread.
  static bool Open();
  // When a batch is open on this thread: keeps `fn` to run at its close unless work
  // with the same `key` is kept already (then drops `fn`), and returns true. Else
  // returns false and the caller does the work itself.
  static bool Defer(const void* key, absl::AnyInvocable<void()> fn);

 private:
  std::vector<std::pair<const void*, absl::AnyInvocable<void()>>> work_;
  AnswerBatch* outer_;
};

}  // namespace semaphored::engine

#endif  // SEMAPHORED_ENGINE_ANSWER_BATCH_H_
