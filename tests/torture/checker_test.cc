// The history checker on hand-made histories: good ones it must accept, bad ones
// (over the limit, tokens going backwards, a hung waiter, a FIFO inversion...) it
// must reject with the right category.

#include "tests/torture/checker.h"

#include <unistd.h>

#include <cstdio>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/status_matchers.h"
#include "tests/torture/history.h"

namespace semaphored::torture {
namespace {

using ::semaphored::testing::IsOk;
using ::testing::Contains;
using ::testing::HasSubstr;

constexpr int64_t kMs = 1'000'000;

Op MakeOp(int pid, const std::string& session, OpKind kind, const std::string& name,
          int64_t start_ms, int64_t end_ms, OpResult result, uint64_t token = 0,
          int32_t permits = 1, int32_t limit = 1, int64_t timeout_ms = 0) {
  static int64_t seq = 0;
  Op op;
  op.pid = pid;
  op.thread = 0;
  op.seq = ++seq;
  op.kind = kind;
  op.session = session;
  op.name = name;
  op.limit = name.empty() ? 0 : limit;
  op.permits = name.empty() ? 0 : permits;
  op.timeout_ms = timeout_ms;
  op.start_ns = start_ms * kMs;
  op.end_ns = end_ms < 0 ? -1 : end_ms * kMs;
  op.result = end_ms < 0 ? OpResult::kPending : result;
  op.token = token;
  return op;
}

TraceRecord Rec(int64_t t_ms, char kind, const std::string& session, const std::string& name,
                uint64_t token_or_waiter = 0, int32_t permits = 1, int32_t limit = 1) {
  TraceRecord r;
  r.time_ns = t_ms * kMs;
  r.kind = kind;
  r.session = session;
  r.name = name;
  if (kind == 'Q' || kind == 'D' || kind == 'W') r.waiter = token_or_waiter;
  if (kind == 'G' || kind == 'R' || kind == 'H' || kind == 'S') r.token = token_or_waiter;
  if (kind == 'Q' || kind == 'G' || kind == 'R' || kind == 'H' || kind == 'W') {
    r.permits = permits;
  }
  if (kind == 'G' || kind == 'H') r.limit = limit;
  if (kind == 'E') r.reason = "closed";
  return r;
}

// Two sessions hand a binary semaphore over cleanly, with the server's records.
History GoodHandOver() {
  History h;
  h.ops = {
      MakeOp(1, "s1", OpKind::kOpen, "", 0, 1, OpResult::kOk),
      MakeOp(2, "s2", OpKind::kOpen, "", 0, 1, OpResult::kOk),
      MakeOp(1, "s1", OpKind::kTry, "a", 10, 12, OpResult::kGranted, 100),
      MakeOp(2, "s2", OpKind::kTimedSet, "a", 20, 60, OpResult::kGranted, 101, 1, 1, 500),
      MakeOp(1, "s1", OpKind::kClear, "a", 50, 52, OpResult::kOk),
      MakeOp(2, "s2", OpKind::kClear, "a", 70, 72, OpResult::kOk),
      MakeOp(1, "s1", OpKind::kClose, "", 80, 82, OpResult::kOk),
      MakeOp(2, "s2", OpKind::kClose, "", 80, 83, OpResult::kOk),
  };
  h.has_trace = true;
  h.trace = {
      Rec(11, 'G', "s1", "a", 100), Rec(21, 'Q', "s2", "a", 1), Rec(51, 'R', "s1", "a", 100),
      Rec(51, 'D', "s2", "a", 1),   Rec(51, 'G', "s2", "a", 101), Rec(71, 'R', "s2", "a", 101),
      Rec(81, 'E', "s1", ""),       Rec(82, 'E', "s2", ""),
  };
  return h;
}

std::string Messages(const CheckReport& r) {
  std::string all;
  for (const std::string& m : r.messages) all += m + "\n";
  return all;
}

// The categories ("[limit]"...) of the report's messages.
std::vector<std::string> Categories(const CheckReport& r) {
  std::vector<std::string> out;
  for (const std::string& m : r.messages) out.push_back(m.substr(0, m.find(']') + 1));
  return out;
}

TEST(CheckerTest, AcceptsACleanHandOver) {
  const CheckReport r = CheckHistory(GoodHandOver());
  EXPECT_EQ(r.violations, 0) << Messages(r);
  EXPECT_EQ(r.ops_checked, 8);
  EXPECT_EQ(r.trace_records_checked, 8);
  EXPECT_EQ(r.client_grants, 2);
  EXPECT_EQ(r.server_grants, 2);
  EXPECT_EQ(r.holding_intervals, 2);
}

TEST(CheckerTest, AcceptsOverlappingHoldersWithinACountingLimit) {
  History h;
  h.ops = {
      MakeOp(1, "s1", OpKind::kTry, "c", 0, 1, OpResult::kGranted, 5, 1, 2),
      MakeOp(2, "s2", OpKind::kTry, "c", 2, 3, OpResult::kGranted, 6, 1, 2),
      MakeOp(3, "s3", OpKind::kTry, "c", 4, 5, OpResult::kNotGranted, 0, 1, 2),
      MakeOp(1, "s1", OpKind::kClose, "", 10, 11, OpResult::kOk),
      MakeOp(2, "s2", OpKind::kClose, "", 10, 11, OpResult::kOk),
  };
  const CheckReport r = CheckHistory(h);
  EXPECT_EQ(r.violations, 0) << Messages(r);
}

TEST(CheckerTest, AcceptsACallInFlightWhenItsProcessWasKilled) {
  History h = GoodHandOver();
  // pid 3 was waiting when the parent killed it; the server granted and released.
  h.ops.push_back(MakeOp(3, "s3", OpKind::kOpen, "", 0, 1, OpResult::kOk));
  h.ops.push_back(MakeOp(3, "s3", OpKind::kTimedSet, "b", 30, -1, OpResult::kPending));
  h.ops.push_back(MakeOp(3, "", OpKind::kCrash, "", 31, 31, OpResult::kOk));
  h.trace.push_back(Rec(90, 'G', "s3", "b", 102));
  h.trace.push_back(Rec(91, 'E', "s3", ""));
  h.trace.push_back(Rec(91, 'R', "s3", "b", 102));
  const CheckReport r = CheckHistory(h);
  EXPECT_EQ(r.violations, 0) << Messages(r);
}

TEST(CheckerTest, AcceptsAClearInFlightWhenItsProcessWasKilled) {
  // s1's clear reached the server (which released and granted s2) but its process
  // was killed before the answer arrived: s1's hold ends when the clear began, not
  // at the kill.
  History h;
  h.ops = {
      MakeOp(1, "s1", OpKind::kTry, "a", 0, 1, OpResult::kGranted, 5),
      MakeOp(1, "s1", OpKind::kClear, "a", 10, -1, OpResult::kPending),
      MakeOp(2, "s2", OpKind::kTimedSet, "a", 2, 12, OpResult::kGranted, 6, 1, 1, 100),
      MakeOp(1, "", OpKind::kCrash, "", 14, 14, OpResult::kOk),
      MakeOp(2, "s2", OpKind::kClose, "", 20, 21, OpResult::kOk),
  };
  const CheckReport r = CheckHistory(h);
  EXPECT_EQ(r.violations, 0) << Messages(r);
  EXPECT_EQ(r.holding_intervals, 2);
}

TEST(CheckerTest, RejectsAHolderGrantedBeforeTheKilledProcessCleared) {
  // The same, but s2 was granted before s1's clear even began.
  History h;
  h.ops = {
      MakeOp(1, "s1", OpKind::kTry, "a", 0, 1, OpResult::kGranted, 5),
      MakeOp(2, "s2", OpKind::kTimedSet, "a", 2, 8, OpResult::kGranted, 6, 1, 1, 100),
      MakeOp(1, "s1", OpKind::kClear, "a", 10, -1, OpResult::kPending),
      MakeOp(1, "", OpKind::kCrash, "", 14, 14, OpResult::kOk),
      MakeOp(2, "s2", OpKind::kClose, "", 20, 21, OpResult::kOk),
  };
  const CheckReport r = CheckHistory(h);
  EXPECT_THAT(Categories(r), Contains("[limit]")) << Messages(r);
}

TEST(CheckerTest, RejectsClientHoldersOverTheLimit) {
  History h;
  h.ops = {
      MakeOp(1, "s1", OpKind::kTry, "a", 0, 1, OpResult::kGranted, 5),
      MakeOp(2, "s2", OpKind::kTimedSet, "a", 2, 3, OpResult::kGranted, 6, 1, 1, 100),
      MakeOp(1, "s1", OpKind::kClear, "a", 10, 11, OpResult::kOk),
      MakeOp(2, "s2", OpKind::kClear, "a", 10, 11, OpResult::kOk),
  };
  const CheckReport r = CheckHistory(h);
  EXPECT_EQ(r.violations, 1) << Messages(r);
  EXPECT_THAT(Categories(r), Contains("[limit]"));
}

TEST(CheckerTest, RejectsServerGrantsOverTheLimit) {
  History h = GoodHandOver();
  // s2 granted without waiting while s1 still held it.
  h.trace = {Rec(11, 'G', "s1", "a", 100), Rec(21, 'G', "s2", "a", 101),
             Rec(51, 'R', "s1", "a", 100), Rec(71, 'R', "s2", "a", 101),
             Rec(81, 'E', "s1", ""),       Rec(82, 'E', "s2", "")};
  const CheckReport r = CheckHistory(h);
  EXPECT_THAT(Categories(r), Contains("[limit]")) << Messages(r);
}

TEST(CheckerTest, RejectsATokenGoingBackwardsAcrossClients) {
  History h = GoodHandOver();
  h.has_trace = false;
  h.ops[3].token = 99;  // s2's grant, after s1's token 100 was seen
  const CheckReport r = CheckHistory(h);
  EXPECT_EQ(r.violations, 1) << Messages(r);
  EXPECT_THAT(Categories(r), Contains("[token]"));
}

TEST(CheckerTest, RejectsATokenGoingBackwardsInTheServerRecords) {
  History h = GoodHandOver();
  h.ops[3].token = 99;
  h.trace[4].token = 99;
  h.trace[5].token = 99;
  const CheckReport r = CheckHistory(h);
  EXPECT_THAT(Categories(r), Contains("[token]")) << Messages(r);
  EXPECT_THAT(Messages(r), HasSubstr("not above the previous grant's 100"));
}

TEST(CheckerTest, AcceptsACallBegunWhileTheKillWasUnderWay) {
  // The parent sent SIGKILL at 30 and reaped pid 3 at 33; the call began at 31.
  History h = GoodHandOver();
  h.ops.push_back(MakeOp(3, "s3", OpKind::kOpen, "", 0, 1, OpResult::kOk));
  h.ops.push_back(MakeOp(3, "s3", OpKind::kTry, "b", 31, -1, OpResult::kPending));
  h.ops.push_back(MakeOp(3, "", OpKind::kCrash, "", 30, 33, OpResult::kOk));
  const CheckReport r = CheckHistory(h);
  EXPECT_EQ(r.violations, 0) << Messages(r);
}

TEST(CheckerTest, RejectsACallBegunAfterItsProcessWasReaped) {
  History h = GoodHandOver();
  h.ops.push_back(MakeOp(3, "s3", OpKind::kOpen, "", 0, 1, OpResult::kOk));
  h.ops.push_back(MakeOp(3, "s3", OpKind::kTry, "b", 34, -1, OpResult::kPending));
  h.ops.push_back(MakeOp(3, "", OpKind::kCrash, "", 30, 33, OpResult::kOk));
  const CheckReport r = CheckHistory(h);
  EXPECT_THAT(Categories(r), Contains("[hung]")) << Messages(r);
}

TEST(CheckerTest, RejectsAHungWaiter) {
  History h = GoodHandOver();
  h.ops.push_back(MakeOp(2, "s2", OpKind::kWaitClear, "a", 90, -1, OpResult::kPending));
  const CheckReport r = CheckHistory(h);
  EXPECT_EQ(r.violations, 1) << Messages(r);
  EXPECT_THAT(Categories(r), Contains("[hung]"));
}

TEST(CheckerTest, RejectsAWaiterOfAStuckProcessEvenThoughItWasKilled) {
  History h = GoodHandOver();
  h.ops.push_back(MakeOp(2, "s2", OpKind::kTimedSet, "a", 90, -1, OpResult::kPending));
  h.ops.push_back(MakeOp(2, "", OpKind::kStuck, "", 9000, 9000, OpResult::kOk));
  const CheckReport r = CheckHistory(h);
  EXPECT_THAT(Categories(r), Contains("[hung]")) << Messages(r);
}

TEST(CheckerTest, RejectsAWaitAnsweredLongAfterItsTimeout) {
  History h;
  h.ops = {MakeOp(1, "s1", OpKind::kTimedSet, "a", 0, 20'000, OpResult::kNotGranted, 0, 1, 1,
                  100)};
  const CheckReport r = CheckHistory(h);
  EXPECT_EQ(r.violations, 1) << Messages(r);
  EXPECT_THAT(Categories(r), Contains("[hung]"));
}

TEST(CheckerTest, RejectsAFifoInversion) {
  History h = GoodHandOver();
  // s3 queued after s2 but was granted first.
  h.ops.push_back(MakeOp(3, "s3", OpKind::kTimedSet, "a", 30, 60, OpResult::kGranted, 101, 1,
                         1, 500));
  h.ops[3] = MakeOp(2, "s2", OpKind::kTimedSet, "a", 20, 60, OpResult::kNotGranted, 0, 1, 1, 40);
  h.ops.erase(h.ops.begin() + 5);  // s2 never held it, so never clears
  h.ops.push_back(MakeOp(3, "s3", OpKind::kClear, "a", 70, 72, OpResult::kOk));
  h.trace = {Rec(11, 'G', "s1", "a", 100), Rec(21, 'Q', "s2", "a", 1),
             Rec(31, 'Q', "s3", "a", 2),   Rec(51, 'R', "s1", "a", 100),
             Rec(51, 'D', "s3", "a", 2),   Rec(51, 'G', "s3", "a", 101),
             Rec(60, 'D', "s2", "a", 1),   Rec(71, 'R', "s3", "a", 101),
             Rec(81, 'E', "s1", ""),       Rec(82, 'E', "s2", "")};
  const CheckReport r = CheckHistory(h);
  EXPECT_THAT(Categories(r), Contains("[fifo]")) << Messages(r);
  EXPECT_THAT(Messages(r), HasSubstr("waiter 2 granted while waiter 1 (s2) was ahead"));
}

TEST(CheckerTest, RejectsAGrantAtOnceWhileOthersWait) {
  History h = GoodHandOver();
  h.trace.insert(h.trace.begin() + 2, Rec(22, 'G', "s9", "a", 100, 1, 1));
  const CheckReport r = CheckHistory(h);
  EXPECT_THAT(Messages(r), HasSubstr("granted at once while 1 request(s) waited"));
}

TEST(CheckerTest, RejectsAForgottenWaiter) {
  History h = GoodHandOver();
  // s1's release is not handed on: s2 stays queued with the semaphore free.
  h.trace = {Rec(11, 'G', "s1", "a", 100), Rec(21, 'Q', "s2", "a", 1),
             Rec(51, 'R', "s1", "a", 100), Rec(81, 'E', "s1", "")};
  h.ops[3].result = OpResult::kNotGranted;
  h.ops.erase(h.ops.begin() + 5);
  const CheckReport r = CheckHistory(h);
  EXPECT_THAT(Categories(r), Contains("[lost]")) << Messages(r);
}

TEST(CheckerTest, RejectsAGrantNoClientSaw) {
  History h = GoodHandOver();
  h.trace.insert(h.trace.begin() + 6, Rec(75, 'G', "s1", "b", 102));
  h.trace.insert(h.trace.begin() + 7, Rec(76, 'R', "s1", "b", 102));
  const CheckReport r = CheckHistory(h);
  EXPECT_EQ(r.violations, 1) << Messages(r);
  EXPECT_THAT(Messages(r), HasSubstr("no client call returned this grant"));
}

// s1 holds "a", s2 and s3 wait for it in that order; the server is killed (after
// tracing a grant of "b" to s9 that never committed) and restarted from its store; the
// queue goes on in order, and token 101 is granted again (to s2) without harm.
History AcrossARestart() {
  History h;
  h.ops = {
      MakeOp(1, "s1", OpKind::kTry, "a", 10, 12, OpResult::kGranted, 100),
      MakeOp(2, "s2", OpKind::kTimedSet, "a", 20, 61, OpResult::kGranted, 101, 1, 1, 500),
      MakeOp(3, "s3", OpKind::kTimedSet, "a", 30, 71, OpResult::kGranted, 102, 1, 1, 500),
      MakeOp(1, "s1", OpKind::kClear, "a", 60, 62, OpResult::kOk),
      MakeOp(2, "s2", OpKind::kClear, "a", 70, 72, OpResult::kOk),
      MakeOp(3, "s3", OpKind::kClear, "a", 80, 82, OpResult::kOk),
  };
  h.has_trace = true;
  h.trace = {
      Rec(11, 'G', "s1", "a", 100), Rec(21, 'Q', "s2", "a", 1), Rec(31, 'Q', "s3", "a", 2),
      Rec(35, 'G', "s9", "b", 101),  // killed before it committed
      Rec(45, 'P', "-", ""),         Rec(50, 'S', "-", "", 100),
      Rec(50, 'O', "s1", ""),        Rec(50, 'O', "s2", ""), Rec(50, 'O', "s3", ""),
      Rec(50, 'H', "s1", "a", 100),  Rec(50, 'W', "s2", "a", 1), Rec(50, 'W', "s3", "a", 2),
      Rec(61, 'R', "s1", "a", 100),  Rec(61, 'D', "s2", "a", 1), Rec(61, 'G', "s2", "a", 101),
      Rec(71, 'R', "s2", "a", 101),  Rec(71, 'D', "s3", "a", 2), Rec(71, 'G', "s3", "a", 102),
      Rec(81, 'R', "s3", "a", 102),  Rec(90, 'E', "s1", ""),     Rec(90, 'E', "s2", ""),
      Rec(90, 'E', "s3", ""),
  };
  return h;
}

TEST(CheckerTest, AcceptsAStateRestoredByARestart) {
  const CheckReport r = CheckHistory(AcrossARestart());
  EXPECT_EQ(r.violations, 0) << Messages(r);
  EXPECT_EQ(r.server_restores, 1);
  EXPECT_EQ(r.restored_records, 3);
}

TEST(CheckerTest, RejectsARestoredQueueOutOfOrder) {
  History h = AcrossARestart();
  std::swap(h.trace[10], h.trace[11]);  // s3 restored ahead of s2
  const CheckReport r = CheckHistory(h);
  EXPECT_THAT(Messages(r), HasSubstr("restored waiter 1 behind waiter 2")) << Messages(r);
}

TEST(CheckerTest, RejectsARestoredHolderThatWasNeverGranted) {
  History h = AcrossARestart();
  h.trace[9].session = "s3";
  const CheckReport r = CheckHistory(h);
  EXPECT_THAT(Messages(r), HasSubstr("restored a grant that was never made")) << Messages(r);
}

TEST(CheckerTest, RejectsATokenAtOrBelowTheRestoredHighWater) {
  History h = AcrossARestart();
  h.trace[5].token = 101;  // the store says 101 was granted: granting it again repeats it
  h.trace[3].token = 99;   // (and s9's grant is then an older one)
  const CheckReport r = CheckHistory(h);
  EXPECT_THAT(Messages(r), HasSubstr("token 101 not above the previous grant's 101"))
      << Messages(r);
}

TEST(CheckerTest, RejectsAGrantAClientWasToldOfAndARestartUndid) {
  History h = AcrossARestart();
  h.ops.push_back(MakeOp(9, "s9", OpKind::kTry, "b", 34, 36, OpResult::kGranted, 101));
  const CheckReport r = CheckHistory(h);
  EXPECT_THAT(Messages(r), HasSubstr("a client was told of a grant that a restart undid"))
      << Messages(r);
}

TEST(CheckerTest, RejectsAClientGrantTheServerNeverMade) {
  History h = GoodHandOver();
  h.ops[2].token = 7;
  const CheckReport r = CheckHistory(h);
  EXPECT_THAT(Categories(r), Contains("[agreement]")) << Messages(r);
}

TEST(CheckerTest, RejectsAClearOfWhatTheSessionDoesNotHold) {
  History h = GoodHandOver();
  h.has_trace = false;
  h.ops.push_back(MakeOp(2, "s2", OpKind::kClear, "b", 75, 76, OpResult::kOk));
  const CheckReport r = CheckHistory(h);
  EXPECT_EQ(r.violations, 1) << Messages(r);
  EXPECT_THAT(Categories(r), Contains("[ownership]"));
}

TEST(CheckerTest, RejectsAnUnexpectedError) {
  History h = GoodHandOver();
  h.ops[6].result = OpResult::kError;
  h.ops[6].code = static_cast<int>(absl::StatusCode::kInternal);
  const CheckReport r = CheckHistory(h);
  EXPECT_THAT(Categories(r), Contains("[result]")) << Messages(r);
}

// An open refused while the server restarts: a violation unless the run allows it,
// and only for opens (a set's UNAVAILABLE would leave its outcome unknown).
TEST(CheckerTest, AcceptsAnUnavailableOpenOnlyWhereAllowed) {
  History h = GoodHandOver();
  h.has_trace = false;
  h.ops.push_back(MakeOp(3, "", OpKind::kOpen, "", 5, 6, OpResult::kError));
  h.ops.back().code = static_cast<int>(absl::StatusCode::kUnavailable);
  CheckOptions options;
  EXPECT_THAT(Categories(CheckHistory(h, options)), Contains("[result]"));
  options.allowed_open_errors = {absl::StatusCode::kUnavailable};
  const CheckReport r = CheckHistory(h, options);
  EXPECT_EQ(r.violations, 0) << Messages(r);
  h.ops[2].result = OpResult::kError;
  h.ops[2].code = static_cast<int>(absl::StatusCode::kUnavailable);
  EXPECT_THAT(Categories(CheckHistory(h, options)), Contains("[result]"));
}

TEST(HistoryTest, WrittenFilesReadBackAndACutLastLineIsIgnored) {
  const std::string path =
      ::testing::TempDir() + "/torture_history_test." + std::to_string(getpid());
  std::remove(path.c_str());
  {
    absl::StatusOr<std::unique_ptr<HistoryWriter>> w = HistoryWriter::Open(path);
    ASSERT_THAT(w.status(), IsOk());
    Op op = MakeOp(7, "0123456789abcdef", OpKind::kTimedSet, "x y", 1, -1, OpResult::kPending,
                   0, 2, 3, 250);
    (*w)->Begin(op);
    op.end_ns = 5 * kMs;
    op.result = OpResult::kGranted;
    op.token = 42;
    (*w)->End(op);
    Op pending = MakeOp(7, "0123456789abcdef", OpKind::kClear, "x y", 6, -1, OpResult::kPending);
    (*w)->Begin(pending);
  }
  {
    std::FILE* f = std::fopen(path.c_str(), "a");
    std::fputs("E 7 0 99", f);  // cut by a SIGKILL: no newline
    std::fclose(f);
  }
  History h;
  ASSERT_THAT(ReadHistoryFile(path, &h), IsOk());
  ASSERT_EQ(h.ops.size(), 2u);
  EXPECT_EQ(h.ops[0].name, "x y");
  EXPECT_EQ(h.ops[0].result, OpResult::kGranted);
  EXPECT_EQ(h.ops[0].token, 42u);
  EXPECT_EQ(h.ops[0].permits, 2);
  EXPECT_EQ(h.ops[0].limit, 3);
  EXPECT_EQ(h.ops[0].timeout_ms, 250);
  EXPECT_FALSE(h.ops[1].ended());
  std::remove(path.c_str());
}

TEST(HistoryTest, TraceLinesParse) {
  History h;
  ASSERT_THAT(ParseTraceText("5 Q 00000000000000aa 3 2 torture/a\n"
                             "6 D 00000000000000aa 3 name with spaces\n"
                             "7 G 00000000000000aa 12 2 3 torture/a\n"
                             "8 R 00000000000000aa 12 2 torture/a\n"
                             "9 E 00000000000000aa stream_ended\n",
                             "t", &h),
              IsOk());
  ASSERT_EQ(h.trace.size(), 5u);
  EXPECT_EQ(h.trace[0].waiter, 3u);
  EXPECT_EQ(h.trace[0].permits, 2);
  EXPECT_EQ(h.trace[1].name, "name with spaces");
  EXPECT_EQ(h.trace[2].token, 12u);
  EXPECT_EQ(h.trace[2].limit, 3);
  EXPECT_EQ(h.trace[4].reason, "stream_ended");
  History bad;
  EXPECT_FALSE(ParseTraceText("5 X 00000000000000aa\n", "t", &bad).ok());
}

TEST(HistoryTest, RestartRecordsParseAndATornLineIsSkipped) {
  History h;
  ASSERT_THAT(ParseTraceText("5 G 00000000000000aa 12 2 3 torture/a\n"
                             "6 R 00000000000000aa 1\n"  // killed while writing this
                             "9 P - 1\n"
                             "10 S - 12\n"
                             "10 O 00000000000000aa\n"
                             "10 H 00000000000000aa 12 2 3 torture/a\n"
                             "10 W 00000000000000bb 4 1 torture/a\n"
                             "11 P - 0\n"
                             "12 G 00000000000000bb 13 1 3 torture/a\n"
                             "13 R 00000000000000bb 13 1 tor",  // unfinished: ignored
                             "t", &h),
              IsOk());
  std::string kinds;
  for (const TraceRecord& r : h.trace) kinds.push_back(r.kind);
  EXPECT_EQ(kinds, "GPSOHWPG");
  EXPECT_TRUE(h.trace[1].torn);
  EXPECT_EQ(h.trace[2].token, 12u);
  EXPECT_EQ(h.trace[4].token, 12u);
  EXPECT_EQ(h.trace[4].limit, 3);
  EXPECT_EQ(h.trace[5].waiter, 4u);
  EXPECT_EQ(h.trace[5].name, "torture/a");
  EXPECT_FALSE(h.trace[6].torn);
  History bad;
  EXPECT_FALSE(ParseTraceText("6 R 00000000000000aa 1\n9 P - 0\n", "t", &bad).ok());
}

// Leaders on etcd, each process its own trace: leaderships in the order they began;
// what a deposed leader recorded after its successor's restore is left out.
TEST(HistoryTest, LeaderTracesMergeInOrderWithoutTheDeposedLeadersLateRecords) {
  auto parse = [](absl::string_view text) {
    History h;
    EXPECT_THAT(ParseTraceText(text, "t", &h), IsOk());
    return h.trace;
  };
  const std::vector<TraceRecord> standby = parse("1 P - 0\n");
  const std::vector<TraceRecord> second = parse(
      "1 P - 0\n"
      "10 S - 1\n"
      "10 O 00000000000000aa\n"
      "10 H 00000000000000aa 1 1 1 torture/a\n"
      "11 R 00000000000000aa 1 1 torture/a\n");
  const std::vector<TraceRecord> first = parse(
      "0 P - 0\n"
      "2 S - 0\n"
      "3 G 00000000000000aa 1 1 1 torture/a\n"
      "12 G 00000000000000bb 2 1 1 torture/b\n");  // after SIGCONT: never committed
  History merged;
  ASSERT_THAT(MergeLeaderTraces({standby, second, first}, &merged), IsOk());
  std::string kinds;
  for (const TraceRecord& r : merged.trace) kinds.push_back(r.kind);
  EXPECT_EQ(kinds, "PSGPSOHR");
  CheckOptions options;
  options.check_agreement = false;
  options.trace_complete = false;
  EXPECT_EQ(CheckHistory(merged, options).violations, 0);

  History bad;
  EXPECT_FALSE(
      MergeLeaderTraces({parse("1 P - 0\n3 G 00000000000000aa 1 1 1 torture/a\n")}, &bad).ok())
      << "a record before its process led";
}

}  // namespace
}  // namespace semaphored::torture
