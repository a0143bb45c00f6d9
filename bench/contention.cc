// W1-W4: set + clear pairs through the client library (Session::Acquire and the
// Permit's release on destruction, which does not wait for its answer).

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpcpp/client_context.h"
#include "semaphored/v1/admin.grpc.pb.h"
#include "workloads.h"

namespace semaphored::bench {
namespace {

namespace v1 = ::semaphored::v1;

absl::StatusOr<std::vector<std::unique_ptr<Session>>> OpenSessions(BenchContext& ctx,
                                                                   int n,
                                                                   const std::string& tag) {
  std::vector<std::unique_ptr<Session>> sessions;
  for (int i = 0; i < n; ++i) {
    SessionOptions options;
    options.client_name = absl::StrCat("bench-", tag, "-", i);
    absl::StatusOr<std::unique_ptr<Session>> s = ctx.client->OpenSession(options);
    if (!s.ok()) return s.status();
    sessions.push_back(*std::move(s));
  }
  return sessions;
}

// Each of `sessions` loops acquire -> release on name_of(i) until `duration` passes.
// `on_grant(i, permit)` runs while the permit is held.
PairStats RunPairs(std::vector<std::unique_ptr<Session>>& sessions, absl::Duration duration,
                   const std::function<std::string(int)>& name_of,
                   const AcquireOptions& options,
                   const std::function<void(int, const Permit&)>& on_grant) {
  int n = static_cast<int>(sessions.size());
  std::vector<PairStats> per(n);
  absl::Time start = absl::Now();
  absl::Time end = start + duration;
  RunThreads(n, [&](int i) {
    std::string name = name_of(i);
    for (absl::Time t0 = absl::Now(); t0 < end; t0 = absl::Now()) {
      absl::StatusOr<Permit> p = sessions[i]->Acquire(name, options);
      if (!p.ok() || !p->acquired()) {
        ++per[i].failures;
        continue;
      }
      if (on_grant) on_grant(i, *p);
      *p = Permit();  // release, not waiting for the answer
      per[i].latency.Add(absl::Now() - t0);
      ++per[i].pairs;
    }
  });
  return PairStats::Sum(per, start);
}

// Closes every session, all at once (a close not answered costs its call timeout, once),
// and notes the closes that failed: a close that is not answered is a server fault.
void CloseAll(BenchContext& ctx, const std::string& workload,
              std::vector<std::unique_ptr<Session>>& sessions) {
  const int n = static_cast<int>(sessions.size());
  std::vector<absl::Status> closed(n);
  absl::Time start = absl::Now();
  RunThreads(n, [&](int i) { closed[i] = sessions[i]->Close(); });
  int failed = 0;
  absl::Status first;
  for (const absl::Status& s : closed) {
    if (s.ok()) continue;
    if (failed++ == 0) first = s;
  }
  if (failed > 0) {
    ctx.report->Note(absl::StrCat(workload, ": ", failed, " of ", n,
                                  " session closes failed (closing took ",
                                  absl::FormatDuration(absl::Now() - start), "); first: ",
                                  first.ToString()));
  }
}

}  // namespace

absl::Status RunW1(BenchContext& ctx, absl::Duration duration) {
  absl::StatusOr<std::vector<std::unique_ptr<Session>>> sessions = OpenSessions(ctx, 1, "w1");
  if (!sessions.ok()) return sessions.status();
  // Warm up the stream and the name.
  RunPairs(*sessions, absl::Milliseconds(100), [](int) { return "bench/w1"; }, {}, nullptr);
  PairStats st =
      RunPairs(*sessions, duration, [](int) { return "bench/w1"; }, {}, nullptr);
  // The same pairs with Set + Clear, where the clear waits for its answer.
  Samples sync_pairs;
  Session& session = *(*sessions)[0];
  absl::Time sync_end = absl::Now() + duration / 3;
  for (absl::Time t0 = absl::Now(); t0 < sync_end; t0 = absl::Now()) {
    absl::StatusOr<SetResult> set = session.Set("bench/w1");
    if (!set.ok() || !set->acquired || !session.Clear("bench/w1").ok()) {
      ++st.failures;
      continue;
    }
    sync_pairs.Add(absl::Now() - t0);
  }
  CloseAll(ctx, ctx.Label("W1"), *sessions);
  const Floor& f = ctx.floor;
  double p50 = st.latency.PercentileUs(50);
  double p99 = st.latency.PercentileUs(99);
  Report& r = *ctx.report;
  r.Add({ctx.Label("W1"), "pairs/s (1 client)", st.rate(), "/s", st.rate() / f.stream_rate_1,
         "", {}});
  r.Add({ctx.Label("W1"), "pair p50", p50, "us", p50 / f.rt_p50_us(), "<= 1.3 x floor RT p50",
         p50 <= 1.3 * f.rt_p50_us()});
  r.Add({ctx.Label("W1"), "pair p99", p99, "us", p99 / f.rt_p50_us(), "", {}});
  double sync_p50 = sync_pairs.PercentileUs(50);
  r.Add({ctx.Label("W1"), "Set+Clear pair p50 (clear awaited)", sync_p50, "us",
         sync_p50 / f.rt_p50_us(), "", {}});
  if (st.failures) r.Note(absl::StrCat(ctx.Label("W1"), ": ", st.failures, " acquires failed"));
  ctx.w1_rate = st.rate();
  ctx.w1_p50_us = p50;
  ctx.w1_sync_p50_us = sync_p50;
  return absl::OkStatus();
}

absl::Status RunW2(BenchContext& ctx, absl::Duration duration, int clients) {
  absl::StatusOr<std::vector<std::unique_ptr<Session>>> sessions =
      OpenSessions(ctx, clients, "w2");
  if (!sessions.ok()) return sessions.status();
  auto name_of = [](int i) { return absl::StrCat("bench/w2/", i); };
  PairStats st = RunPairs(*sessions, duration, name_of, {}, nullptr);
  CloseAll(ctx, ctx.Label("W2"), *sessions);
  const Floor& f = ctx.floor;
  double ratio = st.rate() / f.stream_rate_n;
  double p99 = st.latency.PercentileUs(99);
  Report& r = *ctx.report;
  r.Add({ctx.Label("W2"), absl::StrCat("pairs/s (", clients, " clients)"), st.rate(), "/s", ratio,
         absl::StrCat(">= 0.8 x stream floor @", f.concurrency), ratio >= 0.8});
  r.Add({ctx.Label("W2"), "pair p99", p99, "us", p99 / f.rt_p50_us(), "", {}});
  if (st.failures) r.Note(absl::StrCat(ctx.Label("W2"), ": ", st.failures, " acquires failed"));
  ctx.w2_rate = st.rate();
  return absl::OkStatus();
}

namespace {

// One view of W3's semaphore from the admin service: the holder's fencing token and
// the waiting sessions, first in line first.
struct QueueSnapshot {
  uint64_t holder_token = 0;
  std::vector<std::string> waiters;
};

// Counts FIFO violations: for every snapshot, the waiters' next grants (each
// session's smallest token above the holder's) must come in queue order.
int64_t CountFifoViolations(const std::vector<QueueSnapshot>& snapshots,
                            const std::map<std::string, std::vector<uint64_t>>& tokens,
                            int64_t* checked) {
  int64_t violations = 0;
  for (const QueueSnapshot& snap : snapshots) {
    uint64_t previous = snap.holder_token;
    for (const std::string& waiter : snap.waiters) {
      auto it = tokens.find(waiter);
      if (it == tokens.end()) continue;
      auto next = std::upper_bound(it->second.begin(), it->second.end(), snap.holder_token);
      if (next == it->second.end()) break;  // granted after the run ended
      ++*checked;
      if (*next < previous) ++violations;
      previous = std::max(previous, *next);
    }
  }
  return violations;
}

}  // namespace

absl::Status RunW3(BenchContext& ctx, absl::Duration duration, int clients) {
  absl::StatusOr<std::vector<std::unique_ptr<Session>>> sessions =
      OpenSessions(ctx, clients, "w3");
  if (!sessions.ok()) return sessions.status();
  const std::string name = "bench/w3";
  AcquireOptions options;
  options.timeout = absl::Seconds(30);
  // Every grant's fencing token, per session (tokens only grow, so vectors stay sorted
  // per session, in grant order).
  std::vector<std::vector<uint64_t>> tokens(clients);
  // A snapshot thread reads the server's queue through the admin service.
  std::vector<QueueSnapshot> snapshots;
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    auto admin = v1::AdminService::NewStub(ctx.channel);
    while (!done) {
      grpc::ClientContext c;
      AddAdminAuth(ctx, c);
      c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      v1::ListSemaphoresRequest req;
      req.set_prefix(name);
      req.set_page_size(1);
      v1::ListSemaphoresResponse resp;
      if (admin->ListSemaphores(&c, req, &resp).ok() && resp.semaphores_size() == 1) {
        const v1::SemaphoreDetail& d = resp.semaphores(0);
        if (d.state().holders_size() == 1 && d.waiters_size() > 1) {
          QueueSnapshot snap;
          snap.holder_token = d.state().holders(0).grant().fencing_token();
          for (const auto& w : d.waiters()) snap.waiters.push_back(w.session_id());
          snapshots.push_back(std::move(snap));
        }
      }
      absl::SleepFor(absl::Milliseconds(2));
    }
  });
  PairStats st = RunPairs(
      *sessions, duration, [&](int) { return name; }, options,
      [&](int i, const Permit& p) { tokens[i].push_back(p.fencing_token()); });
  done = true;
  watcher.join();
  std::map<std::string, std::vector<uint64_t>> by_id;
  for (int i = 0; i < clients; ++i) by_id[(*sessions)[i]->id()] = tokens[i];
  CloseAll(ctx, ctx.Label("W3"), *sessions);
  int64_t checked = 0;
  int64_t violations = CountFifoViolations(snapshots, by_id, &checked);

  const Floor& f = ctx.floor;
  double rate = st.rate();
  double mean_handoff_us = rate > 0 ? 1e6 / rate : 0;
  double p99 = st.latency.PercentileUs(99);
  double bound = 1.5 * clients * mean_handoff_us;
  Report& r = *ctx.report;
  r.Add({ctx.Label("W3"), absl::StrCat("handoffs/s (", clients, " clients)"), rate, "/s",
         rate / f.stream_rate_1, ">= 0.7 x W1 pairs/s",
         ctx.w1_rate > 0 ? std::optional<bool>(rate >= 0.7 * ctx.w1_rate) : std::nullopt});
  r.Add({ctx.Label("W3"), "wait p99", p99, "us", p99 / f.rt_p50_us(),
         absl::StrFormat("<= 1.5 x 16 x mean (%.0f us)", bound), p99 <= bound});
  r.Add({ctx.Label("W3"), "FIFO violations", static_cast<double>(violations), "", std::nullopt,
         "== 0", violations == 0});
  r.Add({ctx.Label("W3"), "FIFO grants checked", static_cast<double>(checked), "",
         std::nullopt, "", {}});
  r.Note(absl::StrCat(
      ctx.Label("W3"), " FIFO check: a thread snapshots the server's queue "
      "(AdminService.ListSemaphores) every 2 ms; for each snapshot, each waiting "
      "session's next grant is its smallest fencing token above the holder's, and those "
      "tokens must increase in queue order. ",
      snapshots.size(), " snapshots."));
  if (st.failures) r.Note(absl::StrCat(ctx.Label("W3"), ": ", st.failures, " acquires failed"));
  ctx.w3_rate = rate;
  ctx.w3_p99_us = p99;
  return absl::OkStatus();
}

absl::Status RunW4(BenchContext& ctx, absl::Duration duration, int clients, int limit) {
  absl::StatusOr<std::vector<std::unique_ptr<Session>>> sessions =
      OpenSessions(ctx, clients, "w4");
  if (!sessions.ok()) return sessions.status();
  AcquireOptions options;
  options.limit = limit;
  options.timeout = absl::Seconds(30);
  // Holders counted client-side: incremented after a grant, decremented before the
  // release is sent, so it never exceeds the server's count.
  std::atomic<int> holding{0};
  std::atomic<int> max_holding{0};
  PairStats st = RunPairs(
      *sessions, duration, [](int) { return "bench/w4"; }, options,
      [&](int, const Permit&) {
        int now = ++holding;
        int seen = max_holding.load();
        while (now > seen && !max_holding.compare_exchange_weak(seen, now)) {
        }
        --holding;
      });
  CloseAll(ctx, "W4", *sessions);
  const Floor& f = ctx.floor;
  double p99 = st.latency.PercentileUs(99);
  Report& r = *ctx.report;
  r.Add({"W4", absl::StrCat("pairs/s (", clients, " clients, limit ", limit, ")"), st.rate(),
         "/s", st.rate() / f.stream_rate_n, "", {}});
  r.Add({"W4", "wait p99", p99, "us", p99 / f.rt_p50_us(), "", {}});
  r.Add({"W4", "max holders seen (client-side count)", static_cast<double>(max_holding.load()), "",
         std::nullopt, absl::StrCat("<= ", limit), max_holding.load() <= limit});
  if (st.failures) r.Note(absl::StrCat("W4: ", st.failures, " acquires failed"));
  return absl::OkStatus();
}

}  // namespace semaphored::bench
