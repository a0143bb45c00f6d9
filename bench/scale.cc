// W5: many sessions holding many semaphores. The semaphores are set directly on the
// in-process server's core (setup speed; no client state in this process), then
// test (Client::Test, a unary RPC) and list (AdminService.ListSemaphores, one page of
// 100 under a session's prefix) are timed over gRPC at that size.

#include <malloc.h>

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/client_context.h"
#include "semaphored/v1/admin.grpc.pb.h"
#include "engine/core.h"
#include "server/server.h"
#include "workloads.h"

namespace semaphored::bench {
namespace {

namespace v1 = ::semaphored::v1;

// This process's resident set size in bytes (VmRSS), 0 when unknown.
int64_t ResidentBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      int64_t kb = 0;
      std::string digits;
      for (char c : line) {
        if (c >= '0' && c <= '9') digits += c;
      }
      if (absl::SimpleAtoi(digits, &kb)) return kb * 1024;
    }
  }
  return 0;
}

// Bytes of heap in use (glibc mallinfo2): unlike RSS, not hidden by freed memory
// that earlier workloads left resident.
int64_t HeapInUseBytes() { return static_cast<int64_t>(mallinfo2().uordblks); }

std::string W5Name(int session, int j) { return absl::StrCat("w5/", session, "/", j); }

}  // namespace

absl::Status RunW5(BenchContext& ctx, int sessions, int per_session, int samples) {
  if (ctx.server == nullptr) {
    ctx.report->Note("W5 skipped: it needs the in-process server (no --server)");
    return absl::OkStatus();
  }
  engine::Core& core = ctx.server->core();
  int64_t rss_before = ResidentBytes();
  int64_t heap_before = HeapInUseBytes();
  absl::Time setup_start = absl::Now();
  std::vector<internal::SessionId> ids;
  ids.reserve(sessions);
  int64_t held = 0;
  for (int s = 0; s < sessions; ++s) {
    absl::StatusOr<engine::NewSession> ns =
        core.CreateSession(absl::StrCat("bench-w5-", s), absl::Hours(1));
    if (!ns.ok()) return ns.status();
    ids.push_back(ns->id);
    for (int j = 0; j < per_session; ++j) {
      engine::SetArgs args;
      args.name = W5Name(s, j);
      core.Set(ns->id, std::move(args),
               [&held](absl::StatusOr<engine::SetOutcome> out) {
                 if (out.ok() && out->acquired) ++held;
               });
    }
  }
  double setup_s = absl::ToDoubleSeconds(absl::Now() - setup_start);
  int64_t rss_after = ResidentBytes();
  int64_t heap_after = HeapInUseBytes();
  double per_sem = held > 0 ? static_cast<double>(rss_after - rss_before) / held : 0;
  double heap_per_sem = held > 0 ? static_cast<double>(heap_after - heap_before) / held : 0;

  std::mt19937 rng(42);
  std::uniform_int_distribution<int> pick_session(0, sessions - 1);
  std::uniform_int_distribution<int> pick_sem(0, per_session - 1);
  Samples test;
  for (int i = 0; i < samples; ++i) {
    std::string name = W5Name(pick_session(rng), pick_sem(rng));
    absl::Time t0 = absl::Now();
    absl::StatusOr<SemaphoreInfo> info = ctx.client->Test(name);
    test.Add(absl::Now() - t0);
    if (!info.ok()) return info.status();
  }
  auto admin = v1::AdminService::NewStub(ctx.channel);
  Samples list;
  for (int i = 0; i < samples; ++i) {
    grpc::ClientContext c;
    AddAdminAuth(ctx, c);
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::ListSemaphoresRequest req;
    req.set_prefix(absl::StrCat("w5/", pick_session(rng), "/"));
    req.set_page_size(100);
    v1::ListSemaphoresResponse resp;
    absl::Time t0 = absl::Now();
    grpc::Status s = admin->ListSemaphores(&c, req, &resp);
    list.Add(absl::Now() - t0);
    if (!s.ok()) return absl::UnavailableError("ListSemaphores: " + s.error_message());
  }
  for (internal::SessionId id : ids) core.CloseSession(id).IgnoreError();

  const Floor& f = ctx.floor;
  double rt = f.rt_p50_us();
  Report& r = *ctx.report;
  std::string size = absl::StrCat(sessions, " x ", per_session);
  r.Add({"W5", absl::StrCat("semaphores held (", size, ")"), static_cast<double>(held), "",
         std::nullopt, "", {}});
  r.Add({"W5", "server RSS per held semaphore", per_sem, "B", std::nullopt, "<= 250 B",
         per_sem <= 250});
  r.Add({"W5", "server heap in use per held semaphore", heap_per_sem, "B", std::nullopt,
         "<= 250 B", heap_per_sem <= 250});
  r.Add({"W5", "test p50", test.PercentileUs(50), "us", test.PercentileUs(50) / rt, "", {}});
  // Tails are compared with the floor's tail: a p99 with a p50 would mostly measure
  // the machine's jitter, which the floor's own p99 shows.
  const double rt99 = f.unary_p99_us;
  r.Add({"W5", "test p99", test.PercentileUs(99), "us", test.PercentileUs(99) / rt99,
         "<= 2 x floor unary p99", test.PercentileUs(99) <= 2 * rt99});
  r.Add({"W5", "list (100/page) p50", list.PercentileUs(50), "us",
         list.PercentileUs(50) / rt, "", {}});
  r.Add({"W5", "list (100/page) p99", list.PercentileUs(99), "us",
         list.PercentileUs(99) / rt99, "<= 2 x floor unary p99",
         list.PercentileUs(99) <= 2 * rt99});
  r.Note(absl::StrCat("W5: ", held, " semaphores in ", sessions,
                      " sessions set on the in-process core in ", setup_s,
                      " s; RSS per semaphore = VmRSS delta / held (includes the session "
                      "records; sessions made with Core::CreateSession, no streams)."));
  return absl::OkStatus();
}

}  // namespace semaphored::bench
