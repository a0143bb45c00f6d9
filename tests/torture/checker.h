#ifndef SEMAPHORED_TESTS_TORTURE_CHECKER_H_
#define SEMAPHORED_TESTS_TORTURE_CHECKER_H_

// Checks a torture history (history.h) against what the server promises: no more
// permits held than the limit, strictly increasing fencing tokens, FIFO queues,
// nothing lost, and answers that agree with the server's own records.
//
// From the clients' operations alone (sound: every violation reported is real):
//   limit      at no moment do the client-observed holding intervals of a name --
//              from "grant seen" (the set call's return) to "release sent" (the
//              start of the clear or close, or the SIGKILL of the process) -- carry
//              more permits than its limit. These intervals lie inside the server's
//              real ones, so an overlap here is an overlap there.
//   token      a grant whose call ended before another grant's call started has the
//              smaller fencing token (the server promises strictly increasing tokens
//              across all names); no two grants share a token.
//   hung       every call returned, except calls in flight in a process that the
//              parent SIGKILLed on purpose; a wait returned within its timeout (or
//              cancel delay) plus a slack.
//   ownership  a session is told "already held" exactly for what it holds; a clear
//              succeeds exactly for what it holds; results and error codes are ones
//              the operation can give.
// From the server's own records (`semaphored --trace_file`), replayed exactly:
//   limit      permits held never exceed the limit; a release matches a grant.
//   token      tokens strictly increase in grant order (globally).
//   fifo       a queued request is granted only from the head of its queue; nobody is
//              granted at once while others wait; nobody is queued while the request
//              could be granted; a grantable head is never left waiting; an ended
//              session is never granted or queued again.
//   lost       at the end (after the server drained) nothing is held or queued.
//   restarts   the trace may hold several server processes in turn (P records); a
//              restarted one starts from the state it restored (S, O, H, W records):
//              a restored holder was granted before, with a token within the restored
//              high-water, and later grants are above that high-water; a restored
//              waiter was queued before, and each restored queue keeps the order in
//              which its requests were queued; no grant a client was told of is
//              undone (its token above the next process's restored high-water).
//   agreement  every grant a client saw is a server grant to that session and name,
//              made during the call; every server grant was seen by a client unless
//              its process was SIGKILLed with the call in flight; every successful
//              clear matches a server release during the call.
//
// Thread-compatible pure functions.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "tests/torture/history.h"

namespace semaphored::torture {

struct CheckOptions {
  // A wait that returns later than its timeout (or cancel delay) plus this is "hung".
  absl::Duration wait_slack = absl::Seconds(10);
  // Error codes any operation may get without a violation (besides those specific to
  // an operation: CANCELLED for a cancelled wait, NOT_FOUND/PERMISSION_DENIED for a
  // clear of a semaphore the session does not hold). A session lost in the middle
  // (UNAUTHENTICATED) is allowed by default.
  std::vector<absl::StatusCode> allowed_errors = {absl::StatusCode::kUnauthenticated};
  // Error codes opening a session may get besides those (UNAVAILABLE while the
  // server restarts: no session was opened, or one nobody uses).
  std::vector<absl::StatusCode> allowed_open_errors;
  // The trace ends after the server drained: nothing may be left held or queued.
  bool trace_complete = true;
  // Compare the clients' operations with the trace (off to check a trace alone).
  bool check_agreement = true;
  // How many violation messages to keep (all are counted).
  size_t max_messages = 40;
};

struct CheckReport {
  int64_t ops_checked = 0;
  int64_t trace_records_checked = 0;
  int64_t client_grants = 0;     // new grants seen by clients
  int64_t server_grants = 0;     // G records
  int64_t server_queued = 0;     // Q records
  int64_t server_restores = 0;   // S records (a restarted server's restored state)
  int64_t restored_records = 0;  // H and W records (holders and waiters restored)
  int64_t undone_grants = 0;     // G records a restart undid (never committed)
  int64_t holding_intervals = 0;
  int64_t violations = 0;
  std::vector<std::string> messages;  // "[category] text", the first max_messages

  // "ops checked N, trace records M, violations V" and counts.
  std::string Summary() const;
};

// Runs every check above. Ops may come in any order.
CheckReport CheckHistory(const History& history, const CheckOptions& options = {});

namespace internal {

// Collects violations for a CheckReport.
class Violations {
 public:
  Violations(CheckReport* report, size_t max_messages)
      : report_(report), max_messages_(max_messages) {}
  void Add(absl::string_view category, const std::string& message);

 private:
  CheckReport* report_;
  size_t max_messages_;
};

// A short description of an operation for messages.
std::string Describe(const Op& op);

// The server-record checks (trace_checker.cc); no-op without a trace.
void CheckTrace(const History& history, const CheckOptions& options, CheckReport* report,
                Violations& out);

}  // namespace internal

}  // namespace semaphored::torture

#endif  // SEMAPHORED_TESTS_TORTURE_CHECKER_H_
