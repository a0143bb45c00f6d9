// A torture-test client process: THREADS threads, each with its own session, run
// random operations with the real client library on the names of workload.h until
// END_NS (CLOCK_MONOTONIC), recording every operation in HISTORY (history.h). Then
// each closes its session and the process exits 0 (1 when it cannot start).
//
// Usage: torture_worker ADDRESS HISTORY SEED THREADS END_NS
//
// Every call is bounded: tries answer at once, waits have timeouts of at most
// 100 ms, indefinite waits are cancelled by a helper thread within 100 ms, and the
// library bounds the rest by its call timeout.

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "semaphored/client.h"
#include "tests/torture/history.h"
#include "tests/torture/workload.h"

namespace semaphored::torture {
namespace {

// The session id for the lost-session callback, which may run before OpenSession
// returns.
struct SessionName {
  absl::Mutex mu;
  std::string id ABSL_GUARDED_BY(mu);
};

class WorkerThread {
 public:
  WorkerThread(Client* client, HistoryWriter* history, int thread, uint64_t seed,
               int64_t end_ns, std::atomic<int64_t>* instant_seq)
      : client_(client), history_(history), thread_(thread), rng_(seed), end_ns_(end_ns),
        instant_seq_(instant_seq) {}

  void Run() {
    while (MonotonicNanos() < end_ns_) {
      if (session_ == nullptr || !session_->status().ok()) {
        if (!Open()) {
          absl::SleepFor(absl::Milliseconds(20));
          continue;
        }
      }
      RandomOp();
    }
    if (session_ != nullptr) Close();
  }

 private:
  Op Begin(OpKind kind, const NameSpec* spec = nullptr, int32_t permits = 0,
           int64_t timeout_ms = 0) {
    Op op;
    op.pid = getpid();
    op.thread = thread_;
    op.seq = ++seq_;
    op.kind = kind;
    op.session = session_ != nullptr ? session_->id() : "";
    if (spec != nullptr) {
      op.name = spec->name;
      op.limit = spec->limit;
    }
    op.permits = permits;
    op.timeout_ms = timeout_ms;
    op.start_ns = MonotonicNanos();
    history_->Begin(op);
    return op;
  }
  void End(Op& op, OpResult result, const absl::Status& status = absl::OkStatus(),
           uint64_t token = 0) {
    op.end_ns = MonotonicNanos();
    op.result = status.ok() ? result : OpResult::kError;
    op.code = static_cast<int>(status.code());
    op.token = token;
    history_->End(op);
  }

  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  bool Open() {
    session_.reset();
    auto name = std::make_shared<SessionName>();
    SessionOptions options;
    options.client_name = "torture";
    HistoryWriter* history = history_;
    const int thread = thread_;
    std::atomic<int64_t>* seq = instant_seq_;
    options.on_session_lost = [name, history, thread, seq](const absl::Status&) {
      Op op;
      op.pid = getpid();
      op.thread = 1000 + thread;
      op.seq = ++*seq;
      op.kind = OpKind::kLost;
      {
        absl::MutexLock lock(&name->mu);
        op.session = name->id;
      }
      op.start_ns = op.end_ns = MonotonicNanos();
      op.result = OpResult::kOk;
      history->Instant(op);
    };
    Op op = Begin(OpKind::kOpen);
    absl::StatusOr<std::unique_ptr<Session>> session = client_->OpenSession(std::move(options));
    if (!session.ok()) {
      End(op, OpResult::kOk, session.status());
      return false;
    }
    session_ = *std::move(session);
    {
      absl::MutexLock lock(&name->mu);
      name->id = session_->id();
    }
    op.session = session_->id();
    End(op, OpResult::kOk);
    held_.clear();
    return true;
  }

  void Close() {
    Op op = Begin(OpKind::kClose);
    const absl::Status s = session_->Close();
    End(op, OpResult::kOk, s);
    session_.reset();
    held_.clear();
  }

  const NameSpec* RandomName() { return &kNames[Uniform(0, std::size(kNames) - 1)]; }

  void DoSet(OpKind kind, int64_t timeout_ms) {
    const NameSpec* spec = RandomName();
    const int32_t permits = Uniform(0, 9) < 7 ? 1 : Uniform(1, spec->limit);
    AcquireOptions options;
    options.limit = spec->limit;
    options.permits = permits;
    std::thread canceller;
    if (kind == OpKind::kCancelSet) {
      options.timeout = absl::InfiniteDuration();
      options.cancel = std::make_shared<CancelToken>();
      canceller = std::thread([cancel = options.cancel, timeout_ms] {
        absl::SleepFor(absl::Milliseconds(timeout_ms));
        cancel->Cancel();
      });
    } else {
      options.timeout = absl::Milliseconds(timeout_ms);
    }
    Op op = Begin(kind, spec, permits, timeout_ms);
    absl::StatusOr<SetResult> r = session_->Set(spec->name, options);
    if (!r.ok()) {
      End(op, OpResult::kError, r.status());
    } else if (!r->acquired) {
      End(op, OpResult::kNotGranted);
    } else {
      End(op, r->already_held ? OpResult::kAlreadyHeld : OpResult::kGranted, absl::OkStatus(),
          r->fencing_token);
      held_.push_back(spec);
    }
    if (canceller.joinable()) canceller.join();
  }

  void DoClear() {
    const NameSpec* spec = RandomName();
    if (!held_.empty() && Uniform(0, 9) < 9) {
      const int i = Uniform(0, static_cast<int>(held_.size()) - 1);
      spec = held_[i];
    }
    Op op = Begin(OpKind::kClear, spec, 0, 0);
    const absl::Status s = session_->Clear(spec->name);
    End(op, OpResult::kOk, s);
    std::vector<const NameSpec*> still;
    for (const NameSpec* h : held_) {
      if (h != spec) still.push_back(h);
    }
    held_.swap(still);
  }

  void DoWaitClear() {
    const NameSpec* spec = RandomName();
    const int64_t timeout_ms = Uniform(0, 100);
    Op op = Begin(OpKind::kWaitClear, spec, 0, timeout_ms);
    absl::StatusOr<bool> r = session_->WaitClear(spec->name, absl::Milliseconds(timeout_ms));
    End(op, r.ok() && *r ? OpResult::kClear : OpResult::kNotClear, r.status());
  }

  void RandomOp() {
    const int dice = Uniform(0, 99);
    if (dice < 25) {
      DoSet(OpKind::kTimedSet, Uniform(1, 100));
    } else if (dice < 40) {
      DoSet(OpKind::kTry, 0);
    } else if (dice < 45) {
      DoSet(OpKind::kCancelSet, Uniform(1, 100));
    } else if (dice < 53) {
      DoWaitClear();
    } else if (dice < 90) {
      // Mostly clear what is held; now and then a name this session does not hold
      // (PERMISSION_DENIED or NOT_FOUND expected).
      if (held_.empty() && Uniform(0, 9) < 8) {
        DoSet(OpKind::kTry, 0);
      } else {
        DoClear();
      }
    } else if (dice < 93) {
      Close();
    } else {
      // Hold what is held a little longer: contention without a call.
      absl::SleepFor(absl::Milliseconds(Uniform(1, 20)));
    }
  }

  Client* const client_;
  HistoryWriter* const history_;
  const int thread_;
  std::mt19937_64 rng_;
  const int64_t end_ns_;
  std::atomic<int64_t>* const instant_seq_;
  int64_t seq_ = 0;
  std::unique_ptr<Session> session_;
  std::vector<const NameSpec*> held_;  // what this thread believes its session holds
};

int Main(int argc, char** argv) {
  uint64_t seed = 0;
  int threads = 0;
  int64_t end_ns = 0;
  if (argc != 6 || !absl::SimpleAtoi(argv[3], &seed) || !absl::SimpleAtoi(argv[4], &threads) ||
      !absl::SimpleAtoi(argv[5], &end_ns) || threads < 1) {
    std::fprintf(stderr, "usage: torture_worker ADDRESS HISTORY SEED THREADS END_NS\n");
    return 2;
  }
  absl::StatusOr<std::unique_ptr<HistoryWriter>> history = HistoryWriter::Open(argv[2]);
  if (!history.ok()) {
    std::fprintf(stderr, "torture_worker: %s\n", history.status().ToString().c_str());
    return 1;
  }
  ClientOptions options;
  options.address = argv[1];
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(options);
  if (!client.ok()) {
    std::fprintf(stderr, "torture_worker: %s\n", client.status().ToString().c_str());
    return 1;
  }
  std::atomic<int64_t> instant_seq{0};
  std::vector<std::thread> running;
  for (int t = 0; t < threads; ++t) {
    running.emplace_back([&, t] {
      WorkerThread(client->get(), history->get(), t, seed * 1000 + static_cast<uint64_t>(t),
                   end_ns, &instant_seq)
          .Run();
    });
  }
  for (std::thread& t : running) t.join();
  return 0;
}

}  // namespace
}  // namespace semaphored::torture

int main(int argc, char** argv) { return semaphored::torture::Main(argc, argv); }
