// The server, without a data dir, is killed (SIGKILL) in the middle of a run and
// started again on the same port and the same fencing-token state file
// (--state_file). Clients see their sessions interrupted, try to resume them, are told
// by the restarted server that it does not know them (lost), open new ones (the
// application's job), and every fencing token granted after the restart is greater
// than every token granted before it.
//
// The state file is seeded far above the wall clock (in microseconds, the floor the
// server also uses), so tokens that keep increasing after the restart can only come
// from the file: a server that forgot it would restart near the clock, far below.

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "semaphored/client.h"
#include "semaphored/errors.h"
#include "tests/common/status_matchers.h"
#include "tests/faults/server_child.h"

namespace semaphored {
namespace {

using ::semaphored::testing::ReadFileText;
using ::semaphored::testing::ScratchDir;
using ::semaphored::testing::ServerChild;
using ::semaphored::testing::WriteFileText;
using ::testing::HasSubstr;

constexpr int kWorkers = 4;
constexpr int kGrantsPerPhase = 25;  // grants each worker gets before and after
constexpr absl::Duration kPhaseLimit = absl::Seconds(20);
const char* const kNames[] = {"restart-a", "restart-b"};

// A client thread that acquires and releases two contended names in a loop on its
// own session and, when the session is lost, opens a new one -- as an application
// would. Tokens are recorded per session generation (0: before the kill).
class Worker {
 public:
  Worker(Client* client, int index) : client_(client), index_(index) {}
  ~Worker() { Stop(); }

  void Start() {
    thread_ = std::thread([this] { Run(); });
  }
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }

  // Grants on sessions of `generation` and later.
  int GrantsFrom(int generation) const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    int count = 0;
    for (size_t g = generation; g < tokens_.size(); ++g) count += tokens_[g].size();
    return count;
  }
  int generation() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return generation_;
  }
  std::vector<std::vector<uint64_t>> tokens() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return tokens_;
  }
  // How many times on_session_interrupted was called, in every generation.
  int interruptions() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return interruptions_;
  }
  // What on_session_lost reported, per generation (empty: not called).
  std::vector<std::vector<absl::Status>> lost_reports() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return lost_reports_;
  }
  // The errors calls returned that said the session was lost, per generation.
  std::vector<absl::Status> call_errors() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return call_errors_;
  }
  std::vector<absl::Status> unexpected() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return unexpected_;
  }

 private:
  void Run() {
    std::unique_ptr<Session> session;
    const absl::Time give_up = absl::Now() + 3 * kPhaseLimit;
    for (uint64_t i = 0; !stop_.load() && absl::Now() < give_up; ++i) {
      if (session == nullptr) {
        session = Open();
        // Not reachable yet (the server is down or restarting): the application
        // retries; the channel reconnects with a backoff of at most 2 s.
        if (session == nullptr) absl::SleepFor(absl::Milliseconds(20));
        continue;
      }
      AcquireOptions options;
      options.timeout = absl::Milliseconds(500);
      absl::StatusOr<Permit> permit = session->Acquire(kNames[(i + index_) % 2], options);
      if (!permit.ok() && IsSessionLost(permit.status())) {
        NoteLoss(permit.status());
        session.reset();  // a lost session's close only reports the loss
        continue;
      }
      absl::MutexLock lock(&mu_);
      if (!permit.ok()) {
        unexpected_.push_back(permit.status());
      } else if (permit->acquired()) {
        tokens_[generation_].push_back(permit->fencing_token());
      }
    }
  }

  // Records a call's "session lost" error and starts the next generation. Closing the
  // session drops callbacks that have not run yet, so (as an application that wants
  // to hear on_session_lost would) it first lets the callback run, bounded.
  void NoteLoss(const absl::Status& error) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    call_errors_.push_back(error);
    std::vector<absl::Status>* reports = &lost_reports_[generation_];
    mu_.AwaitWithTimeout(
        absl::Condition(
            +[](std::vector<absl::Status>* r) { return !r->empty(); }, reports),
        absl::Seconds(5));
    ++generation_;
  }

  std::unique_ptr<Session> Open() ABSL_LOCKS_EXCLUDED(mu_) {
    int generation;
    {
      absl::MutexLock lock(&mu_);
      generation = generation_;
      if (tokens_.size() <= static_cast<size_t>(generation)) {
        tokens_.resize(generation + 1);
        lost_reports_.resize(generation + 1);
      }
    }
    SessionOptions options;
    options.ttl = absl::Seconds(5);
    options.on_session_lost = [this, generation](const absl::Status& why) {
      absl::MutexLock lock(&mu_);
      lost_reports_[generation].push_back(why);
    };
    options.on_session_interrupted = [this](const absl::Status&) {
      absl::MutexLock lock(&mu_);
      ++interruptions_;
    };
    absl::StatusOr<std::unique_ptr<Session>> session = client_->OpenSession(options);
    absl::MutexLock lock(&mu_);
    if (!session.ok()) {
      if (session.status().code() != absl::StatusCode::kUnavailable) {
        unexpected_.push_back(session.status());
      }
      return nullptr;
    }
    return *std::move(session);
  }

  Client* const client_;
  const int index_;
  std::atomic<bool> stop_{false};
  std::thread thread_;

  mutable absl::Mutex mu_;
  // State below is protected by mu_.
  int generation_ ABSL_GUARDED_BY(mu_) = 0;
  int interruptions_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::vector<uint64_t>> tokens_ ABSL_GUARDED_BY(mu_);
  std::vector<std::vector<absl::Status>> lost_reports_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Status> call_errors_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Status> unexpected_ ABSL_GUARDED_BY(mu_);
};

// Polls `done` every 5 ms until it holds or `limit` passes; how long it took, or
// absl::InfiniteDuration() on timeout.
absl::Duration PollUntil(const std::function<bool()>& done, absl::Duration limit) {
  const absl::Time start = absl::Now();
  while (!done()) {
    if (absl::Now() - start > limit) return absl::InfiniteDuration();
    absl::SleepFor(absl::Milliseconds(5));
  }
  return absl::Now() - start;
}

// The value recorded in the state file ("next_fencing_token N").
uint64_t RecordedToken(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileText(path);
  EXPECT_TRUE(text.ok()) << text.status();
  const std::string content = text.value_or("");
  absl::string_view body = absl::StripAsciiWhitespace(content);
  uint64_t value = 0;
  EXPECT_TRUE(absl::ConsumePrefix(&body, "next_fencing_token ") &&
              absl::SimpleAtoi(body, &value))
      << "state file: " << content;
  return value;
}

TEST(ServerRestartTest, ClientsSeeLossReconnectAndTokensKeepIncreasing) {
  ScratchDir dir("semaphored_restart_");
  ASSERT_FALSE(dir.path().empty());
  const std::string state = dir.File("state");
  const uint64_t seed =
      static_cast<uint64_t>(absl::ToUnixMicros(absl::Now())) + (1ULL << 40);
  ASSERT_THAT(WriteFileText(state, absl::StrCat("next_fencing_token ", seed, "\n")),
              ::semaphored::testing::IsOk());
  const std::vector<std::string> args = {"--state_file=" + state, "--min_ttl=100ms"};

  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<ServerChild> server,
      ServerChild::Start(SEMAPHORED_BINARY, dir.path(), "127.0.0.1", 0, args));
  const int port = server->port();
  ClientOptions client_options;
  client_options.address = server->address();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Client> client, Client::Connect(client_options));

  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < kWorkers; ++i) {
    workers.push_back(std::make_unique<Worker>(client.get(), i));
    workers.back()->Start();
  }
  auto all = [&](const std::function<bool(const Worker&)>& pred) {
    return [&, pred] {
      return std::all_of(workers.begin(), workers.end(),
                         [&](const std::unique_ptr<Worker>& w) { return pred(*w); });
    };
  };
  ASSERT_NE(
      PollUntil(all([](const Worker& w) { return w.GrantsFrom(0) >= kGrantsPerPhase; }),
                kPhaseLimit),
      absl::InfiniteDuration())
      << "the workers did not get going; log:\n"
      << server->LogTail();

  // Mid-run: the workers are acquiring, waiting and releasing right now.
  const absl::Time kill_at = absl::Now();
  ASSERT_TRUE(server->Kill());
  PollUntil(all([](const Worker& w) { return w.interruptions() >= 1; }),
            absl::Seconds(10));
  const absl::Duration told = absl::Now() - kill_at;
  EXPECT_TRUE(std::all_of(
      workers.begin(), workers.end(),
      [](const std::unique_ptr<Worker>& w) { return w->interruptions() >= 1; }))
      << "not every client noticed the break";
  const uint64_t recorded = RecordedToken(state);

  ASSERT_OK_AND_ASSIGN(
      server, ServerChild::Start(SEMAPHORED_BINARY, dir.path(), "127.0.0.1", port, args));
  // Their resume finds the session unknown: lost, and each opens a new one.
  EXPECT_NE(PollUntil(all([](const Worker& w) { return w.generation() >= 1; }),
                      absl::Seconds(10)),
            absl::InfiniteDuration())
      << "not every client was told its session is lost";
  const absl::Duration reconnected =
      PollUntil(all([](const Worker& w) { return w.GrantsFrom(1) >= kGrantsPerPhase; }),
                kPhaseLimit);
  for (auto& w : workers) w->Stop();
  ASSERT_NE(reconnected, absl::InfiniteDuration())
      << "the workers did not get going again after the restart; log:\n"
      << server->LogTail();

  uint64_t max_before = 0, min_after = UINT64_MAX, grants = 0;
  for (int i = 0; i < kWorkers; ++i) {
    SCOPED_TRACE(absl::StrCat("worker ", i));
    const Worker& w = *workers[i];
    EXPECT_THAT(w.unexpected(), ::testing::IsEmpty());
    // Told through the callback, once, with a "lost" error...
    const std::vector<std::vector<absl::Status>> reports = w.lost_reports();
    ASSERT_GE(reports.size(), 2u);
    ASSERT_EQ(reports[0].size(), 1u);
    EXPECT_TRUE(IsSessionLost(reports[0][0])) << reports[0][0];
    EXPECT_THAT(reports[0][0].message(), HasSubstr("unknown session"));
    // ...and through the error of the call that was running or came next.
    ASSERT_FALSE(w.call_errors().empty());
    EXPECT_TRUE(IsSessionLost(w.call_errors()[0])) << w.call_errors()[0];
    // Every worker's own tokens increase; the ones after the restart are above all
    // before it (checked across workers below).
    const std::vector<std::vector<uint64_t>> tokens = w.tokens();
    std::vector<uint64_t> flat;
    for (size_t g = 0; g < tokens.size(); ++g) {
      flat.insert(flat.end(), tokens[g].begin(), tokens[g].end());
      grants += tokens[g].size();
      if (g == 0) {
        for (uint64_t t : tokens[g]) max_before = std::max(max_before, t);
      } else {
        for (uint64_t t : tokens[g]) min_after = std::min(min_after, t);
      }
    }
    EXPECT_TRUE(std::is_sorted(flat.begin(), flat.end()) &&
                std::adjacent_find(flat.begin(), flat.end()) == flat.end())
        << "tokens of one client went backwards or repeated";
  }
  std::printf(
      "MEASURED restart: %llu grants; kill -> every client interrupted %.1f ms; restart -> "
      "%d grants each %.1f ms; tokens: seed %llu, max before %llu, recorded %llu, "
      "min after %llu\n",
      static_cast<unsigned long long>(grants), absl::ToDoubleMilliseconds(told),
      kGrantsPerPhase, absl::ToDoubleMilliseconds(reconnected),
      static_cast<unsigned long long>(seed), static_cast<unsigned long long>(max_before),
      static_cast<unsigned long long>(recorded),
      static_cast<unsigned long long>(min_after));
  EXPECT_GT(max_before, seed) << "the first server did not start from the state file";
  EXPECT_GT(recorded, max_before) << "the state file must record past every grant";
  EXPECT_GT(min_after, max_before) << "a token after the restart is not above all before";
  EXPECT_GE(min_after, recorded) << "the restarted server did not start past the record";

  client.reset();
  ASSERT_OK_AND_ASSIGN(int exit_code, server->Terminate());
  EXPECT_EQ(exit_code, 0) << server->LogTail();
}

}  // namespace
}  // namespace semaphored
