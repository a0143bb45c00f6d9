// The cost of durability: the empty commit (the durable floor), W1-W3 on a server
// keeping its state in a SQLite data dir against the same workloads in memory, and a
// restart with many held semaphores back to serving.

#include <time.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "engine/store.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "server/observability/metrics.h"
#include "server/server.h"
#include "scratch_dir.h"
#include "store/sqlite_store.h"
#include "workloads.h"

namespace semaphored::bench {
namespace {

// What the workloads need of a server: a client and a raw channel to it.
absl::Status Connect(BenchContext& ctx, server::Server& server,
                     std::unique_ptr<Client>& client) {
  ClientOptions options;
  options.address = server.address();
  options.client_name = "semaphored_bench";
  absl::StatusOr<std::unique_ptr<Client>> connected = Client::Connect(options);
  if (!connected.ok()) return connected.status();
  client = *std::move(connected);
  ctx.address = server.address();
  ctx.client = client.get();
  ctx.channel = grpc::CreateChannel(ctx.address, grpc::InsecureChannelCredentials());
  ctx.server = &server;
  return absl::OkStatus();
}

// The value of the sample `name` (a line "name value") in a Prometheus text page; 0
// when absent.
double Sample(const std::string& page, const std::string& name) {
  const std::string prefix = "\n" + name + " ";
  size_t at = page.find(prefix);
  if (at == std::string::npos) return 0;
  return std::strtod(page.c_str() + at + prefix.size(), nullptr);
}

BenchContext::Commits ReadCommits(const std::string& metrics_page) {
  const std::string page = "\n" + metrics_page;
  BenchContext::Commits c;
  c.commits = Sample(page, "semaphored_store_commits_total");
  c.answers = Sample(page, "semaphored_store_committed_answers_total");
  c.effects = Sample(page, "semaphored_store_committed_effects_total");
  c.seconds = Sample(page, "semaphored_store_commit_seconds_sum");
  return c;
}

// CPU time this thread has used.
absl::Duration ThreadCpuTime() {
  struct timespec ts {};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return absl::DurationFromTimespec(ts);
}

std::string RestartName(int i) { return absl::StrCat("restart/", i); }

// Writes `holders` semaphores, each held by one of `sessions` sessions, straight into
// a SqliteStore in `dir` (as the engine would have committed them), in batches of
// about 10,000 effects. The store is closed on return.
absl::Status FillStore(const std::string& dir, int holders, int sessions) {
  absl::StatusOr<std::unique_ptr<store::SqliteStore>> store = store::SqliteStore::Open(dir);
  if (!store.ok()) return store.status();
  engine::EffectBatch batch;
  for (int s = 1; s <= sessions; ++s) {
    // Distinct secrets of 32 characters, as the engine makes: Restore refuses a
    // shared one.
    batch.effects.push_back(engine::SessionOpened{
        static_cast<engine::SessionId>(s), absl::StrFormat("bench-restart-secret-%011d", s),
        "semaphored_bench", "127.0.0.1", absl::Seconds(60)});
  }
  const absl::Time now = absl::Now();
  for (int i = 0; i < holders; ++i) {
    const std::string name = RestartName(i);
    batch.effects.push_back(engine::SemaphoreCreated{name, 1});
    batch.effects.push_back(engine::HolderAdded{
        name, static_cast<engine::SessionId>(1 + i % sessions), 1,
        static_cast<uint64_t>(i + 1), now});
    if (batch.effects.size() >= 10000 || i + 1 == holders) {
      if (i + 1 == holders) {
        batch.effects.push_back(engine::TokenHighWater{static_cast<uint64_t>(i + 1)});
      }
      if (absl::Status s = (*store)->Commit(batch); !s.ok()) return s;
      batch.effects.clear();
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RunCommitFloor(BenchContext& ctx, int samples, absl::Duration max_duration) {
  ScratchDir dir;
  if (absl::Status s = dir.Make(ctx.scratch_dir, "commit"); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<store::SqliteStore>> store =
      store::SqliteStore::Open(dir.path());
  if (!store.ok()) return store.status();
  engine::EffectBatch open;
  open.effects.push_back(engine::SessionOpened{1, "bench-commit-floor-secret-000001",
                                               "semaphored_bench", "127.0.0.1",
                                               absl::Seconds(60)});
  if (absl::Status s = (*store)->Commit(open); !s.ok()) return s;
  // The least a commit can hold: one effect, a token high-water that grows each time
  // (so that every transaction changes a page and is fsync'd). Every third round also
  // commits a batch like W2's under load: 25 semaphores each created, held, released
  // and erased (101 effects). Interleaved, both meet the same disk; the CPU time the
  // committing thread spends tells applying effects apart from waiting for the fsync.
  constexpr int kPairs = 25;
  constexpr int kLargeEffects = 4 * kPairs + 1;
  constexpr int kWarmUp = 5;
  Samples small, large;
  absl::Duration small_cpu, large_cpu;
  uint64_t high_water = 0;
  auto commit = [&](const engine::EffectBatch& batch, int round, Samples& wall,
                    absl::Duration& cpu) -> absl::Status {
    const absl::Duration cpu0 = ThreadCpuTime();
    const absl::Time t0 = absl::Now();
    if (absl::Status s = (*store)->Commit(batch); !s.ok()) return s;
    if (round < kWarmUp) return absl::OkStatus();  // the first ones warm the file up
    wall.Add(absl::Now() - t0);
    cpu += ThreadCpuTime() - cpu0;
    return absl::OkStatus();
  };
  const absl::Time start = absl::Now();
  const absl::Time end = start + max_duration;
  for (int i = 0; i < samples + kWarmUp && absl::Now() < end; ++i) {
    engine::EffectBatch one;
    one.effects.push_back(engine::TokenHighWater{++high_water});
    if (absl::Status s = commit(one, i, small, small_cpu); !s.ok()) return s;
    if (i % 3 != 0) continue;
    engine::EffectBatch batch;
    const absl::Time now = absl::Now();
    for (int j = 0; j < kPairs; ++j) {
      const std::string name = absl::StrCat("bench/commit/", j);
      batch.effects.push_back(engine::SemaphoreCreated{name, 1});
      batch.effects.push_back(engine::HolderAdded{name, 1, 1, ++high_water, now});
      batch.effects.push_back(engine::HolderRemoved{name, 1});
      batch.effects.push_back(engine::SemaphoreErased{name});
    }
    batch.effects.push_back(engine::TokenHighWater{high_water});
    if (absl::Status s = commit(batch, i, large, large_cpu); !s.ok()) return s;
  }
  if (small.size() == 0 || large.size() == 0) {
    return absl::DeadlineExceededError(absl::StrCat(
        "durable floor: no commit timed within ", absl::FormatDuration(max_duration)));
  }
  ctx.commit_p50_us = small.PercentileUs(50);
  const double rt = ctx.floor.rt_p50_us();
  const double small_cpu_us = absl::ToDoubleMicroseconds(small_cpu) / small.size();
  const double large_cpu_us = absl::ToDoubleMicroseconds(large_cpu) / large.size();
  Report& r = *ctx.report;
  const std::string label = "durable floor";
  r.Add({label, "commit p50 (1 effect)", ctx.commit_p50_us, "us", ctx.commit_p50_us / rt,
         "", {}});
  const double p99 = small.PercentileUs(99);
  r.Add({label, "commit p99 (1 effect)", p99, "us", p99 / rt, "", {}});
  r.Add({label, "commit CPU mean (1 effect)", small_cpu_us, "us", std::nullopt, "", {}});
  const double large_p50 = large.PercentileUs(50);
  r.Add({label, absl::StrCat("commit p50 (", kLargeEffects, " effects)"), large_p50, "us",
         large_p50 / rt, "", {}});
  r.Add({label, absl::StrCat("commit CPU mean (", kLargeEffects, " effects)"), large_cpu_us,
         "us", std::nullopt, "", {}});
  r.Add({label, "CPU per effect applied", (large_cpu_us - small_cpu_us) / (kLargeEffects - 1),
         "us", std::nullopt, "", {}});
  r.Note(absl::StrCat(
      "durable floor: ", small.size(), " commits of 1 effect and ", large.size(), " of ",
      kLargeEffects, " effects (interleaved) to a SqliteStore (WAL, synchronous=FULL) in ",
      dir.path(), " on ", FileSystemOf(dir.path()), " in ",
      absl::FormatDuration(absl::Trunc(absl::Now() - start, absl::Milliseconds(1))),
      "; the durable workloads' data dirs are made there too"));
  return absl::OkStatus();
}

absl::Status RunDurable(BenchContext& ctx, const BenchContext& memory,
                        const std::function<void(BenchContext&)>& workloads) {
  if (!ctx.start_server) {
    ctx.report->Note("durable W1-W3 skipped: they need the in-process server (no --server)");
    return absl::OkStatus();
  }
  ScratchDir dir;
  if (absl::Status s = dir.Make(ctx.scratch_dir, "data"); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<server::Server>> server = ctx.start_server(dir.path());
  if (!server.ok()) return server.status();
  BenchContext durable = ctx;
  durable.store = "sqlite";
  durable.w1_rate = durable.w1_p50_us = durable.w2_rate = durable.w3_rate = 0;
  std::unique_ptr<Client> client;
  absl::Status connected = Connect(durable, **server, client);
  server::Server* raw = server->get();
  durable.store_metrics = [raw]() -> absl::StatusOr<std::string> {
    return raw->metrics().Render();
  };
  if (connected.ok()) {
    StartCommitRows(durable);
    workloads(durable);
  }
  // The sessions' streams end before the server does.
  client.reset();
  (*server)->Shutdown();
  if (!connected.ok()) return connected;

  Report& r = *ctx.report;
  const std::string label = "sqlite/memory";
  if (memory.w1_p50_us > 0 && durable.w1_p50_us > 0) {
    const double rt = ctx.floor.rt_p50_us();
    if (ctx.commit_p50_us > 0) {
      const double bound = rt + 1.5 * ctx.commit_p50_us;
      r.Add({label, "W1 sqlite pair p50 vs RT + 1.5 x commit p50", durable.w1_p50_us, "us",
             durable.w1_p50_us / rt,
             absl::StrFormat("<= RT + 1.5 x commit (%.0f us)", bound),
             durable.w1_p50_us <= bound});
    }
    if (durable.w1_commit_mean_us > 0) {
      // The same bound with the commits W1 itself saw: the floor's store and the
      // server's share the disk, but not always its weather (other writers' fsyncs).
      const double bound = rt + 1.5 * durable.w1_commit_mean_us;
      r.Add({label, "W1 sqlite p50 vs RT + 1.5 x W1 commit mean", durable.w1_p50_us,
             "us", durable.w1_p50_us / rt, absl::StrFormat("(information: %.0f us)", bound),
             {}});
    }
    r.Add({label, "W1 pair p50 ratio", durable.w1_p50_us / memory.w1_p50_us, "x",
           std::nullopt, "", {}});
  }
  if (memory.w2_rate > 0 && durable.w2_rate > 0) {
    const double ratio = durable.w2_rate / memory.w2_rate;
    r.Add({label, "W2 pairs/s ratio", ratio, "x", std::nullopt, ">= 0.6", ratio >= 0.6});
  }
  if (memory.w3_rate > 0 && durable.w3_rate > 0) {
    r.Add({label, "W3 handoffs/s ratio", durable.w3_rate / memory.w3_rate, "x",
           std::nullopt, "", {}});
  }
  return absl::OkStatus();
}

void StartCommitRows(BenchContext& ctx) {
  if (!ctx.store_metrics) return;
  absl::StatusOr<std::string> page = ctx.store_metrics();
  if (page.ok()) ctx.commits = ReadCommits(*page);
}

void AddCommitRows(BenchContext& ctx, const std::string& workload) {
  if (!ctx.store_metrics) return;
  absl::StatusOr<std::string> page = ctx.store_metrics();
  if (!page.ok()) {
    ctx.report->Note(absl::StrCat(ctx.Label(workload), ": no commit rows: ",
                                  page.status().ToString()));
    return;
  }
  const BenchContext::Commits now = ReadCommits(*page);
  const BenchContext::Commits& before = ctx.commits;
  const double commits = now.commits - before.commits;
  const std::string label = ctx.Label(workload);
  Report& r = *ctx.report;
  r.Add({label, "commits (batches)", commits, "", std::nullopt, "", {}});
  if (commits > 0) {
    r.Add({label, "answers per commit", (now.answers - before.answers) / commits, "",
           std::nullopt, "", {}});
    r.Add({label, "effects per commit", (now.effects - before.effects) / commits, "",
           std::nullopt, "", {}});
    const double mean_us = (now.seconds - before.seconds) / commits * 1e6;
    r.Add({label, "commit mean (server's histogram)", mean_us, "us",
           mean_us / ctx.floor.rt_p50_us(), "", {}});
    if (workload == "W1") ctx.w1_commit_mean_us = mean_us;
  }
  ctx.commits = now;
}

absl::Status RunRestart(BenchContext& ctx, int holders) {
  if (!ctx.start_server) {
    ctx.report->Note("restart skipped: it needs the in-process server (no --server)");
    return absl::OkStatus();
  }
  if (holders <= 0) return absl::OkStatus();
  constexpr int kSessions = 1000;
  ScratchDir dir;
  if (absl::Status s = dir.Make(ctx.scratch_dir, "restart"); !s.ok()) return s;
  absl::Time fill_start = absl::Now();
  if (absl::Status s = FillStore(dir.path(), holders, kSessions); !s.ok()) return s;
  const double fill_s = absl::ToDoubleSeconds(absl::Now() - fill_start);

  // From the call that starts the server to the first answered Ping of a new client.
  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<server::Server>> server = ctx.start_server(dir.path());
  if (!server.ok()) return server.status();
  const absl::Time started = absl::Now();
  ClientOptions options;
  options.address = (*server)->address();
  options.client_name = "semaphored_bench";
  options.connect_timeout = absl::Seconds(10);
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(options);
  absl::Status ping = client.ok() ? (*client)->Ping() : client.status();
  const absl::Time serving = absl::Now();
  if (!ping.ok()) {
    (*server)->Shutdown();
    return ping;
  }
  // What came back: every holder loaded, and a held semaphore answers as held.
  const engine::LoadSummary loaded = (*server)->loaded();
  absl::StatusOr<SemaphoreInfo> last = (*client)->Test(RestartName(holders - 1));
  const bool held = last.ok() && last->set && last->holder_count == 1;
  client->reset();
  (*server)->Shutdown();

  const double serving_ms = absl::ToDoubleMilliseconds(serving - start);
  const std::string label = "restart";
  const std::string what = absl::StrCat(holders, " held");
  Report& r = *ctx.report;
  r.Add({label, absl::StrCat("start to first Ping (", what, ")"), serving_ms, "ms",
         std::nullopt, "<= 2000 ms", serving_ms <= 2000});
  r.Add({label, "Server::Start (open, load, restore, listen)",
         absl::ToDoubleMilliseconds(started - start), "ms", std::nullopt, "", {}});
  r.Add({label, "load + restore (the server's figure)",
         absl::ToDoubleMilliseconds(loaded.took), "ms", std::nullopt, "", {}});
  r.Add({label, "holders loaded", static_cast<double>(loaded.holders), "", std::nullopt,
         absl::StrCat("== ", holders), loaded.holders == holders});
  r.Add({label, "a loaded semaphore tests as held", held ? 1.0 : 0.0, "", std::nullopt,
         "== 1", held});
  r.Note(absl::StrFormat(
      "restart: %d semaphores held by %d sessions written straight to a SqliteStore in "
      "%.1f s (batches of 10,000 effects), then the server started on it",
      holders, kSessions, fill_s));
  return absl::OkStatus();
}

}  // namespace semaphored::bench
