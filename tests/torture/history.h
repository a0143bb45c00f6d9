#ifndef SEMAPHORED_TESTS_TORTURE_HISTORY_H_
#define SEMAPHORED_TESTS_TORTURE_HISTORY_H_

// The torture test's histories: what client processes did (operations with start and
// end times), what the parent did to them (crashes), and the server's own records
// (`semaphored --trace_file`). Plain C++; files are text, one record per line.
//
// Times are CLOCK_MONOTONIC nanoseconds, one clock for every process on the machine.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace semaphored::torture {

// CLOCK_MONOTONIC now, in nanoseconds.
int64_t MonotonicNanos();

enum class OpKind {
  kOpen,       // Client::OpenSession; `session` is the new session's id
  kTry,        // Session::Set with timeout 0
  kTimedSet,   // Session::Set with a positive timeout
  kCancelSet,  // Session::Set without timeout, cancelled through a CancelToken
  kWaitClear,  // Session::WaitClear with a timeout
  kClear,      // Session::Clear
  kClose,      // Session::Close
  kLost,       // on_session_lost was called (an instant: start == end)
  kCrash,      // the parent SIGKILLed process `pid` (start: just before; end: reaped)
  kStuck,      // the same, because process `pid` did not finish in time
};

enum class OpResult {
  kPending,      // no end record: the call never returned
  kGranted,      // a set that got the semaphore (a new grant)
  kAlreadyHeld,  // a set answered "already held by this session"
  kNotGranted,   // a set that did not get it (try, or timed out)
  kClear,        // wait-for-clear: it is clear
  kNotClear,     // wait-for-clear: timed out
  kOk,           // open, clear, close, lost, crash: done
  kError,        // an error status; see `code`
};

absl::string_view OpKindName(OpKind kind);
absl::string_view OpResultName(OpResult result);

// One operation. kLost is an instant (start == end); kCrash and kStuck span the kill.
struct Op {
  int pid = 0;
  int thread = 0;
  int64_t seq = 0;  // per (pid, thread), increasing
  OpKind kind = OpKind::kTry;
  std::string session;  // 16 hex digits; empty before the first open
  std::string name;     // semaphore name; empty for session operations
  int32_t limit = 0;
  int32_t permits = 0;
  int64_t timeout_ms = 0;
  int64_t start_ns = 0;
  int64_t end_ns = -1;  // -1: pending
  OpResult result = OpResult::kPending;
  int code = 0;         // absl::StatusCode when result is kError
  uint64_t token = 0;   // fencing token when granted or already held
  bool ended() const { return end_ns >= 0; }
};

// The server's records (see TraceFileWriter): kinds 'Q', 'D', 'G', 'R', 'E'.
// One line of `semaphored --trace_file` (server/observability/trace_file_writer.h).
struct TraceRecord {
  int64_t time_ns = 0;
  char kind = 0;
  std::string session;  // "-" for S and P
  uint64_t waiter = 0;  // Q, D, W
  uint64_t token = 0;   // G, R, H; S: the restored token high-water
  int32_t permits = 0;  // Q, G, R, H, W
  int32_t limit = 0;    // G, H
  std::string name;     // Q, D, G, R, H, W (unescaped)
  std::string reason;   // E
  bool torn = false;    // P: the line before it is incomplete (and skipped)
};

// Everything the checker looks at.
struct History {
  std::vector<Op> ops;
  std::vector<TraceRecord> trace;  // in the server's order
  bool has_trace = false;
};

// Appends one process's operations to a file, one line per begin and per end, each
// with one write(2) so that a SIGKILL loses at most the line being written.
// Thread-safe.
class HistoryWriter {
 public:
  // Creates (or appends to) `path`.
  static absl::StatusOr<std::unique_ptr<HistoryWriter>> Open(const std::string& path);
  ~HistoryWriter();
  HistoryWriter(const HistoryWriter&) = delete;
  HistoryWriter& operator=(const HistoryWriter&) = delete;

  // Records that `op` started (its end fields are ignored).
  void Begin(const Op& op);
  // Records `op`'s end (pid, thread, seq identify it; end_ns, result, code, token).
  void End(const Op& op);
  // Records an instant (kLost, kCrash, kStuck): begin and end at once.
  void Instant(const Op& op);

 private:
  explicit HistoryWriter(int fd) : fd_(fd) {}
  void WriteLine(const std::string& line);
  const int fd_;
};

// Parses history files (as written by HistoryWriter) into `history->ops`, joining
// begin and end lines. INVALID_ARGUMENT naming the file and line for a malformed line
// (a truncated last line, from a SIGKILL mid-write, is ignored).
absl::Status ReadHistoryFile(const std::string& path, History* history);
// Parses one line of history text; exposed for tests.
absl::Status ParseHistoryText(absl::string_view text, absl::string_view source,
                              History* history);

// Parses a server trace file into `history->trace` and sets has_trace.
absl::Status ReadTraceFile(const std::string& path, History* history);
absl::Status ParseTraceText(absl::string_view text, absl::string_view source,
                            History* history);

// The traces of server processes that led one after another on one store (servers
// on etcd: each process its own file; a standby writes no record until it leads and
// restores) merged into `history->trace` as one server's would be: every leadership,
// from its restore record (S) to the next S of its file or the file's end, in the order
// the leaderships began, each preceded by a P record. Records of a leadership stamped
// at or after its successor's restore are left out: they are a deposed leader's work
// after its successor took over, which its guarded store never committed (anything it
// committed was committed before its lease ended, before the successor's restore).
// INVALID_ARGUMENT for a record before its file's first S other than P.
absl::Status ReadLeaderTraceFiles(const std::vector<std::string>& paths, History* history);
// The merge of ReadLeaderTraceFiles, of traces already parsed (one per process);
// exposed for tests.
absl::Status MergeLeaderTraces(const std::vector<std::vector<TraceRecord>>& traces,
                               History* history);

}  // namespace semaphored::torture

#endif  // SEMAPHORED_TESTS_TORTURE_HISTORY_H_
