// Local '$' semaphores (kept in the client library, no server) against absl::Mutex,
// with Google Benchmark, run in-process and captured into the report.

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "benchmark/benchmark.h"
#include "workloads.h"

namespace semaphored::bench {
namespace {

constexpr int kContendedThreads = 4;

// Shared by the benchmark functions: one local client, one session per thread.
struct LocalFixture {
  std::unique_ptr<Client> client = Client::Local();
  std::vector<std::unique_ptr<Session>> sessions;
  absl::Mutex mutex;
  // Handoffs: acquisitions by a thread other than the previous holder, counted by the
  // holder (so plain fields suffice for the mutex; the $ holder is another thread's
  // past holder, hence atomics there).
  int mutex_last_owner ABSL_GUARDED_BY(mutex) = -1;
  int64_t mutex_handoffs ABSL_GUARDED_BY(mutex) = 0;
  int64_t mutex_acquisitions ABSL_GUARDED_BY(mutex) = 0;
  std::atomic<int> local_last_owner{-1};
  std::atomic<int64_t> local_handoffs{0};
  std::atomic<int64_t> local_acquisitions{0};
  // The share of acquisitions that were handoffs (over every run Google Benchmark
  // made, including its trial runs).
  static double Share(int64_t handoffs, int64_t acquisitions) {
    return acquisitions > 0 ? static_cast<double>(handoffs) / acquisitions : 0;
  }
  LocalFixture() {
    for (int i = 0; i < kContendedThreads; ++i) {
      SessionOptions options;
      options.client_name = absl::StrCat("bench-local-", i);
      sessions.push_back(*client->OpenSession(options));
    }
  }
};

LocalFixture* fixture = nullptr;

void BM_LocalSetClearUncontended(benchmark::State& state) {
  Session& session = *fixture->sessions[0];
  for (auto _ : state) {
    absl::StatusOr<SetResult> set = session.Set("$bench-uncontended");
    benchmark::DoNotOptimize(set);
    session.Clear("$bench-uncontended").IgnoreError();
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_LocalSetClearContended(benchmark::State& state) {
  Session& session = *fixture->sessions[state.thread_index()];
  AcquireOptions options;
  options.timeout = absl::Seconds(10);
  const int me = state.thread_index();
  for (auto _ : state) {
    absl::StatusOr<SetResult> set = session.Set("$bench-contended", options);
    if (set.ok() && set->acquired) {
      fixture->local_acquisitions.fetch_add(1, std::memory_order_relaxed);
      if (fixture->local_last_owner.exchange(me, std::memory_order_relaxed) != me) {
        fixture->local_handoffs.fetch_add(1, std::memory_order_relaxed);
      }
    }
    session.Clear("$bench-contended").IgnoreError();
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_MutexContended(benchmark::State& state) {
  const int me = state.thread_index();
  for (auto _ : state) {
    // Locked through `fixture` itself, so that the thread-safety analysis sees which
    // mutex guards the fields below.
    absl::MutexLock lock(&fixture->mutex);
    ++fixture->mutex_acquisitions;
    if (fixture->mutex_last_owner != me) {
      fixture->mutex_last_owner = me;
      ++fixture->mutex_handoffs;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

// Prints as the console reporter does and keeps every run.
class CapturingReporter : public benchmark::ConsoleReporter {
 public:
  CapturingReporter() : ConsoleReporter(OO_Tabular) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      auto it = run.counters.find("items_per_second");
      items_per_second[run.run_name.function_name] =
          it == run.counters.end() ? 0 : static_cast<double>(it->second);
      ns_per_item[run.run_name.function_name] = run.GetAdjustedRealTime();
    }
  }
  std::map<std::string, double> items_per_second;
  std::map<std::string, double> ns_per_item;
};

}  // namespace

absl::Status RunLocal(BenchContext& ctx, double min_time_s) {
  LocalFixture local;
  fixture = &local;
  std::string min_time = absl::StrCat("--benchmark_min_time=", min_time_s);
  std::string program = "semaphored_bench";
  std::string color = "--benchmark_color=false";
  char* argv[] = {program.data(), min_time.data(), color.data(), nullptr};
  int argc = 3;
  benchmark::Initialize(&argc, argv);
  benchmark::RegisterBenchmark("local_set_clear_uncontended", BM_LocalSetClearUncontended)
      ->Unit(benchmark::kNanosecond);
  benchmark::RegisterBenchmark("local_set_clear_contended", BM_LocalSetClearContended)
      ->Threads(kContendedThreads)
      ->UseRealTime()
      ->Unit(benchmark::kNanosecond);
  benchmark::RegisterBenchmark("absl_mutex_contended", BM_MutexContended)
      ->Threads(kContendedThreads)
      ->UseRealTime()
      ->Unit(benchmark::kNanosecond);
  CapturingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::ClearRegisteredBenchmarks();
  fixture = nullptr;

  double ns = reporter.ns_per_item["local_set_clear_uncontended"];
  double contended = reporter.items_per_second["local_set_clear_contended"];
  double mutex = reporter.items_per_second["absl_mutex_contended"];
  double local_handoffs = contended * LocalFixture::Share(local.local_handoffs,
                                                          local.local_acquisitions);
  double mutex_handoffs;
  {
    absl::MutexLock lock(&local.mutex);
    mutex_handoffs =
        mutex * LocalFixture::Share(local.mutex_handoffs, local.mutex_acquisitions);
  }
  double rt_ns = ctx.floor.rt_p50_us() * 1e3;
  Report& r = *ctx.report;
  r.Add({"local", "$ set+clear uncontended", ns, "ns", ns / rt_ns, "<= 150 ns/pair",
         ns <= 150});
  const std::string threads = absl::StrCat(" (", kContendedThreads, " thr)");
  r.Add({"local", absl::StrCat("$ set+clear contended", threads), contended, "/s",
         contended / ctx.floor.stream_rate_n, "", {}});
  r.Add({"local", absl::StrCat("$ handoffs/s contended", threads), local_handoffs, "/s",
         local_handoffs / ctx.floor.stream_rate_n, "", {}});
  r.Add({"local", absl::StrCat("absl::Mutex lock/unlock", threads), mutex, "/s",
         mutex / ctx.floor.stream_rate_n, "", {}});
  r.Add({"local", absl::StrCat("absl::Mutex handoffs/s", threads), mutex_handoffs, "/s",
         mutex_handoffs / ctx.floor.stream_rate_n, "", {}});
  double ratio = mutex_handoffs > 0 ? local_handoffs / mutex_handoffs : 0;
  r.Add({"local", "$ handoffs / absl::Mutex handoffs", ratio, "", std::nullopt, ">= 0.5",
         ratio >= 0.5});
  r.Note(
      "local: a handoff is an acquisition by another thread than the previous holder. "
      "absl::Mutex lets the releasing thread take the lock again at once (barging), so "
      "most of its lock/unlock pairs are not handoffs; the FIFO $ semaphore hands a "
      "release to the longest waiter whenever one waits.");
  return absl::OkStatus();
}

}  // namespace semaphored::bench
