// The server's trace (CoreTracer, TraceFileWriter, `semaphored --trace_file`): the
// core reports its queues, grants and releases in its own order, the writer puts them
// in a file the checker reads, and a long random run of the real core (fake clock, no
// sleeps) replays without a violation.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/clock.h"
#include "engine/core.h"
#include "engine/counter_token_source.h"
#include "server/observability/trace_file_writer.h"
#include "tests/engine/fake_store.h"
#include "tests/store/store_model.h"
#include "tests/common/status_matchers.h"
#include "tests/torture/checker.h"
#include "tests/torture/history.h"
#include "tests/torture/process.h"

namespace semaphored::torture {
namespace {

using ::semaphored::engine::Core;
using ::semaphored::engine::CounterTokenSource;
using ::semaphored::engine::SessionEndReason;
using ::semaphored::engine::SetArgs;
using ::semaphored::engine::SetCoreTracer;
using ::semaphored::engine::SetOutcome;
using ::semaphored::engine::WaiterId;
using ::semaphored::internal::FakeClock;
using ::semaphored::internal::SessionId;
using ::semaphored::server::TraceFileWriter;
using ::semaphored::testing::IsOk;
using ::semaphored::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string TempFile(const std::string& name) {
  return ::testing::TempDir() + "/torture_trace_test." + std::to_string(getpid()) + "." + name;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Installs a TraceFileWriter for the test's cores; Finish() uninstalls it and parses.
class TraceFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = TempFile(::testing::UnitTest::GetInstance()->current_test_info()->name());
    absl::StatusOr<std::unique_ptr<TraceFileWriter>> w = TraceFileWriter::Open(path_);
    ASSERT_THAT(w.status(), IsOk());
    writer_ = *std::move(w);
    SetCoreTracer(writer_.get());
  }
  void TearDown() override {
    SetCoreTracer(nullptr);
    std::remove(path_.c_str());
  }
  History Finish() {
    SetCoreTracer(nullptr);
    EXPECT_THAT(writer_->Close(), IsOk());
    History h;
    EXPECT_THAT(ParseTraceText(Slurp(path_), path_, &h), IsOk());
    return h;
  }

  std::string path_;
  std::unique_ptr<TraceFileWriter> writer_;
  FakeClock clock_;
  CounterTokenSource tokens_{100};
};

SetArgs Args(const std::string& name, absl::Time deadline, int32_t permits = 1,
             int32_t limit = 1) {
  SetArgs a;
  a.name = name;
  a.limit = limit;
  a.permits = permits;
  a.wait = {absl::InfiniteDuration(), deadline};  // wait until `deadline`
  return a;
}

std::string Kinds(const History& h) {
  std::string k;
  for (const TraceRecord& r : h.trace) k.push_back(r.kind);
  return k;
}

TEST_F(TraceFixture, CoreReportsQueueGrantReleaseAndSessionEndInItsOrder) {
  Core core(&clock_, &tokens_);
  const SessionId s1 = core.CreateSession("one", absl::ZeroDuration())->id;
  const SessionId s2 = core.CreateSession("two", absl::ZeroDuration())->id;
  core.Set(s1, Args("a b", absl::InfinitePast()), [](absl::StatusOr<SetOutcome>) {});
  core.Set(s2, Args("a b", absl::InfiniteFuture()), [](absl::StatusOr<SetOutcome>) {});
  ASSERT_THAT(core.Clear(s1, "a b"), IsOk());
  ASSERT_THAT(core.CloseSession(s2), IsOk());
  const History h = Finish();
  // G s1; Q s2; R s1, D s2, G s2 (handed on); E s2, R s2.
  EXPECT_EQ(Kinds(h), "GQRDGER");
  ASSERT_EQ(h.trace.size(), 7u);
  EXPECT_EQ(h.trace[0].session, ::semaphored::internal::FormatSessionId(s1));
  EXPECT_EQ(h.trace[0].name, "a b");
  EXPECT_EQ(h.trace[0].token, 101u);
  EXPECT_EQ(h.trace[0].limit, 1);
  EXPECT_EQ(h.trace[1].session, ::semaphored::internal::FormatSessionId(s2));
  EXPECT_EQ(h.trace[1].waiter, h.trace[3].waiter);
  EXPECT_EQ(h.trace[4].token, 102u);
  EXPECT_EQ(h.trace[5].reason, "closed");
  EXPECT_EQ(h.trace[6].token, 102u);
  for (size_t i = 1; i < h.trace.size(); ++i) {
    EXPECT_LE(h.trace[i - 1].time_ns, h.trace[i].time_ns);
  }
  CheckOptions options;
  options.check_agreement = false;
  const CheckReport r = CheckHistory(h, options);
  EXPECT_EQ(r.violations, 0) << (r.messages.empty() ? "" : r.messages[0]);
}

TEST_F(TraceFixture, NothingIsTracedOnceUninstalled) {
  Core core(&clock_, &tokens_);
  SetCoreTracer(nullptr);
  const SessionId s1 = core.CreateSession("one", absl::ZeroDuration())->id;
  core.Set(s1, Args("a", absl::InfinitePast()), [](absl::StatusOr<SetOutcome>) {});
  EXPECT_EQ(Kinds(Finish()), "");
}

TEST_F(TraceFixture, WriterDropsRecordsAfterCloseAndCloseIsIdempotent) {
  writer_->OnGrant("x", 1, 5, 1, 1);
  ASSERT_THAT(writer_->Close(), IsOk());
  writer_->OnGrant("x", 1, 6, 1, 1);
  EXPECT_THAT(writer_->Close(), IsOk());
  SetCoreTracer(nullptr);
  History h;
  ASSERT_THAT(ParseTraceText(Slurp(path_), path_, &h), IsOk());
  ASSERT_EQ(h.trace.size(), 1u);
  EXPECT_EQ(h.trace[0].token, 5u);
}

// Thousands of random operations on the real core, then a drain: the replay of its
// trace finds nothing wrong, and it exercised queues, hand-overs and timeouts.
TEST_F(TraceFixture, RandomCoreRunReplaysWithoutViolation) {
  Core core(&clock_, &tokens_);
  std::mt19937 rng(12345);
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const char* names[] = {"a", "b", "c"};
  const int32_t limits[] = {1, 2, 3};
  std::vector<SessionId> sessions;
  for (int i = 0; i < 5; ++i) sessions.push_back(core.CreateSession("s", absl::Hours(1))->id);
  std::vector<WaiterId> waiters;
  for (int step = 0; step < 20000; ++step) {
    const int n = uniform(0, 2);
    SessionId& s = sessions[static_cast<size_t>(uniform(0, 4))];
    const int dice = uniform(0, 99);
    if (dice < 45) {
      const absl::Time deadline = dice < 15   ? absl::InfinitePast()
                                  : dice < 40 ? clock_.Now() + absl::Milliseconds(uniform(1, 50))
                                              : absl::InfiniteFuture();
      WaiterId w = core.Set(s, Args(names[n], deadline, uniform(1, limits[n]), limits[n]),
                            [](absl::StatusOr<SetOutcome>) {});
      if (w != 0) waiters.push_back(w);
    } else if (dice < 80) {
      core.Clear(s, names[n]).IgnoreError();
    } else if (dice < 88 && !waiters.empty()) {
      core.Cancel(waiters[static_cast<size_t>(uniform(0, static_cast<int>(waiters.size()) - 1))]);
    } else if (dice < 97) {
      clock_.Advance(absl::Milliseconds(uniform(1, 20)));
      core.Tick();
    } else {
      core.CloseSession(s, SessionEndReason::kStreamEnded).IgnoreError();
      s = core.CreateSession("s", absl::Hours(1))->id;
    }
  }
  core.Drain();
  ASSERT_THAT(core.CheckInvariants(), IsOk());
  const History h = Finish();
  CheckOptions options;
  options.check_agreement = false;
  const CheckReport r = CheckHistory(h, options);
  EXPECT_EQ(r.violations, 0) << (r.messages.empty() ? "" : r.messages[0]);
  EXPECT_GT(r.server_grants, 1000);
  EXPECT_GT(r.server_queued, 1000);
  std::printf("random core run: %s\n", r.Summary().c_str());
}

// A durable core's records reach the file before its batch commits; a server started
// again on the file marks where its records begin, then traces the state it restored
// (queues in order), and the replay goes on from it without a violation.
TEST_F(TraceFixture, RecordsPrecedeTheirCommitAndARestoredCoreTracesItsState) {
  ::semaphored::internal::FakeStore store;
  engine::CoreOptions options;
  options.store = &store;
  std::vector<SessionId> ids;
  {
    Core core(&clock_, &tokens_, options);
    for (const char* who : {"one", "two", "three"}) {
      ids.push_back(core.CreateSession(who, absl::Hours(1))->id);
    }
    core.Set(ids[0], Args("a", absl::InfinitePast()), [](absl::StatusOr<SetOutcome>) {});
    core.Set(ids[1], Args("a", absl::InfiniteFuture()), [](absl::StatusOr<SetOutcome>) {});
    core.Set(ids[2], Args("a", absl::InfiniteFuture()), [](absl::StatusOr<SetOutcome>) {});
    ASSERT_TRUE(core.CommitBatch());
    // In the file at once, not only after the writer thread's next round (20 ms).
    const std::string at_commit = Slurp(path_);
    EXPECT_THAT(at_commit, HasSubstr(" G "));
    EXPECT_THAT(at_commit, HasSubstr(" Q "));
  }
  SetCoreTracer(nullptr);
  ASSERT_THAT(writer_->Close(), IsOk());

  // The next process: appends, restores from what the store committed.
  absl::StatusOr<std::unique_ptr<TraceFileWriter>> again = TraceFileWriter::Open(path_);
  ASSERT_THAT(again.status(), IsOk());
  writer_ = *std::move(again);
  SetCoreTracer(writer_.get());
  store::testing::StoreModel model;
  for (const engine::EffectBatch& batch : store.batches()) model.Apply(batch);
  ::semaphored::internal::FakeStore store2;
  options.store = &store2;
  Core restored(&clock_, &tokens_, options);
  ASSERT_THAT(restored.Restore(model.State()), IsOk());
  ASSERT_THAT(restored.Clear(ids[0], "a"), IsOk());  // hands on to "two", then "three"
  ASSERT_THAT(restored.Clear(ids[1], "a"), IsOk());
  ASSERT_THAT(restored.Clear(ids[2], "a"), IsOk());
  const History h = Finish();
  EXPECT_EQ(Kinds(h), "GQQPSOOOHWWRDGRDGR");
  EXPECT_EQ(h.trace[4].token, 101u);  // the restored high-water
  EXPECT_EQ(h.trace[9].session, ::semaphored::internal::FormatSessionId(ids[1]));
  EXPECT_EQ(h.trace[10].session, ::semaphored::internal::FormatSessionId(ids[2]));
  EXPECT_EQ(h.trace[13].token, 102u);
  CheckOptions check;
  check.check_agreement = false;
  const CheckReport r = CheckHistory(h, check);
  EXPECT_EQ(r.violations, 0) << (r.messages.empty() ? "" : r.messages[0]);
  EXPECT_EQ(r.server_restores, 1);
  EXPECT_EQ(r.restored_records, 3);
}

TEST(TraceFileWriterTest, AFileEndingInAnUnfinishedLineIsMarkedTorn) {
  const std::string path = TempFile("torn");
  {
    std::ofstream out(path);
    out << "5 G 00000000000000aa 12 1 1 a\n6 R 00000000000000aa 1";
  }
  absl::StatusOr<std::unique_ptr<TraceFileWriter>> w = TraceFileWriter::Open(path);
  ASSERT_THAT(w.status(), IsOk());
  (*w)->OnGrant("b", 2, 13, 1, 1);
  ASSERT_THAT((*w)->Close(), IsOk());
  History h;
  ASSERT_THAT(ParseTraceText(Slurp(path), path, &h), IsOk());
  ASSERT_EQ(Kinds(h), "GPG");
  EXPECT_TRUE(h.trace[1].torn);
  EXPECT_EQ(h.trace[2].token, 13u);
  std::remove(path.c_str());
}

TEST(TraceFileWriterTest, OpenFailsWithTheFileNamed) {
  EXPECT_THAT(TraceFileWriter::Open("/nonexistent-dir/trace").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("/nonexistent-dir/trace")));
}

TEST(TraceFlagTest, BinaryRefusesATraceFileItCannotCreate) {
  const std::string log = TempFile("flag.log");
  absl::StatusOr<pid_t> pid =
      Spawn({SEMAPHORED_BINARY, "--listen=127.0.0.1:0", "--state_file=",
             "--trace_file=/nonexistent-dir/trace"},
            log);
  ASSERT_THAT(pid.status(), IsOk());
  std::optional<int> status = WaitForExit(*pid, absl::Seconds(30));
  if (!status) KillAndReap(*pid);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 1);
  EXPECT_THAT(Slurp(log), HasSubstr("--trace_file: cannot open trace file /nonexistent-dir/trace"));
  std::remove(log.c_str());
}

}  // namespace
}  // namespace semaphored::torture
