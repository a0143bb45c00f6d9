#ifndef SEMAPHORED_SERVER_OBSERVABILITY_TRACE_FILE_WRITER_H_
#define SEMAPHORED_SERVER_OBSERVABILITY_TRACE_FILE_WRITER_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "engine/core_tracer.h"
#include "engine/types.h"

namespace semaphored::server {

// `semaphored --trace_file=PATH`: the core's exact queue/grant/release records (see
// CoreTracer), one line each, in the core's order, for history checkers:
//   <ns> Q <session> <waiter> <permits> <name>        a set request queued
//   <ns> D <session> <waiter> <name>                  it left the queue
//   <ns> G <session> <token> <permits> <limit> <name> a grant
//   <ns> R <session> <token> <permits> <name>         a release
//   <ns> E <session> <reason>                         a session ended
// and, when a core is restored from its store (a restart), the state it starts from:
//   <ns> S - <token high-water>                       restored from the store
//   <ns> O <session>                                  a restored session
//   <ns> H <session> <token> <permits> <limit> <name> a restored holder
//   <ns> W <session> <waiter> <permits> <name>        a restored set request, in
//                                                     queue order
// <ns> is CLOCK_MONOTONIC in nanoseconds (system-wide, so comparable with client
// processes' clocks); <session> as FormatSessionId; <name> is C-escaped and the rest
// of the line. The file is appended to: a server started again on it first writes
//   <ns> P - <torn>                                   another process's records follow
// where <torn> is 1 when the file did not end with a whole line (the previous process
// was killed in the middle of one; the line before this record is then incomplete).
// Under the core's lock a record is only appended to a memory buffer; a background
// thread writes the buffer to the file every few milliseconds, so the core never
// waits for the disk -- except before a durable core commits (OnCommitting), when the
// buffer is written at once: a record of an effect a client could have been told of
// is in the file (the kernel's) before the answer can leave. Other records still
// buffered are lost if the process is killed; Close() (or the destructor) writes them
// all.
//
// Thread-safe.
class TraceFileWriter final : public engine::CoreTracer {
 public:
  // Opens `path` for appending (creating it) and starts the writer thread.
  // INVALID_ARGUMENT naming the file when it cannot be opened.
  static absl::StatusOr<std::unique_ptr<TraceFileWriter>> Open(const std::string& path);
  // Close()s.
  ~TraceFileWriter() override;
  TraceFileWriter(const TraceFileWriter&) = delete;
  TraceFileWriter& operator=(const TraceFileWriter&) = delete;

  // Stops the writer thread and writes what is buffered; returns the first write
  // error, if any. Records arriving afterwards are dropped. Idempotent.
  absl::Status Close() ABSL_LOCKS_EXCLUDED(mu_, close_mu_);

  // --- CoreTracer (cheap: formats into the buffer) ---
  void OnQueued(absl::string_view name, internal::SessionId session,
                engine::WaiterId waiter, int32_t permits) override
      ABSL_LOCKS_EXCLUDED(mu_);
  void OnDequeued(absl::string_view name, internal::SessionId session,
                  engine::WaiterId waiter) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnGrant(absl::string_view name, internal::SessionId session, uint64_t token,
               int32_t permits, int32_t limit) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnRelease(absl::string_view name, internal::SessionId session, uint64_t token,
                 int32_t permits) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnSessionEnded(internal::SessionId session,
                      engine::SessionEndReason reason) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnRestored(uint64_t token_high_water) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnRestoredSession(internal::SessionId session) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnRestoredHolder(absl::string_view name, internal::SessionId session, uint64_t token,
                        int32_t permits, int32_t limit) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnRestoredWaiter(absl::string_view name, internal::SessionId session,
                        engine::WaiterId waiter, int32_t permits) override
      ABSL_LOCKS_EXCLUDED(mu_);
  // Writes what is buffered now.
  void OnCommitting() override ABSL_LOCKS_EXCLUDED(mu_, file_mu_);

 private:
  explicit TraceFileWriter(std::FILE* file);
  // Appends one record: "<ns> <fields>[ <escaped name>]\n".
  void Append(absl::string_view fields, absl::string_view name) ABSL_LOCKS_EXCLUDED(mu_);
  void WriterLoop() ABSL_LOCKS_EXCLUDED(mu_, file_mu_);
  // Takes the buffer and writes it to the file, in the order the records came.
  void WriteBuffered() ABSL_LOCKS_EXCLUDED(mu_, file_mu_);
  void WriteOut(const std::string& chunk) ABSL_EXCLUSIVE_LOCKS_REQUIRED(file_mu_);

  std::thread writer_;
  absl::Mutex close_mu_;  // makes a second Close() wait for the first
  // Held while a chunk is taken from the buffer and written, so that chunks reach the
  // file in order. Taken before mu_.
  absl::Mutex file_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::FILE* file_ ABSL_GUARDED_BY(file_mu_);
  absl::Status write_error_ ABSL_GUARDED_BY(file_mu_);

  absl::Mutex mu_;
  // State below is protected by mu_.
  std::string pending_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_OBSERVABILITY_TRACE_FILE_WRITER_H_
