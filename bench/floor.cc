// The floor: a no-op unary call (Client::Ping) and a no-op message (a ping command)
// on a raw session stream, the latter also at W2's concurrency.

#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/sync_stream.h"
#include "semaphored/v1/semaphore.grpc.pb.h"
#include "workloads.h"

namespace semaphored::bench {
namespace {

namespace v1 = ::semaphored::v1;

// A session stream driven directly through the generated stub, one ping at a time.
class RawStream {
 public:
  explicit RawStream(const std::shared_ptr<grpc::Channel>& channel)
      : stub_(v1::SemaphoreService::NewStub(channel)) {}

  absl::Status Open(const std::string& client_name) {
    grpc::ClientContext create_context;
    create_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::CreateSessionRequest request;
    request.set_client_name(client_name);
    v1::CreateSessionResponse response;
    grpc::Status s = stub_->CreateSession(&create_context, request, &response);
    if (!s.ok()) return absl::UnavailableError(absl::StrCat("CreateSession: ", s.error_message()));
    secret_ = response.session_secret();
    stream_ = stub_->StreamSession(&context_);
    return absl::OkStatus();
  }

  // One ping command, waiting for its answer. False when the stream broke.
  bool Ping() {
    v1::StreamSessionRequest request;
    if (first_) request.set_session_secret(secret_);
    first_ = false;
    v1::SessionCommand* command = request.add_commands();
    command->set_command_id(++next_id_);
    command->mutable_ping();
    if (!stream_->Write(request)) return false;
    v1::StreamSessionResponse response;
    while (stream_->Read(&response)) {
      for (const v1::SessionEvent& event : response.events()) {
        if (event.command_id() == next_id_) return event.has_ping();
      }
    }
    return false;
  }

  // Half-closes (the server then closes the session) and waits for the end.
  void Close() {
    if (!stream_) return;
    stream_->WritesDone();
    v1::StreamSessionResponse response;
    while (stream_->Read(&response)) {
    }
    stream_->Finish().ok();
    stream_.reset();
  }

 private:
  std::unique_ptr<v1::SemaphoreService::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::StreamSessionRequest, v1::StreamSessionResponse>>
      stream_;
  std::string secret_;
  bool first_ = true;
  uint64_t next_id_ = 0;
};

// Pings on `n` streams at once for `duration`; returns messages/s, fills `samples`.
absl::StatusOr<double> StreamPings(BenchContext& ctx, int n, absl::Duration duration,
                                   Samples& samples) {
  std::vector<std::unique_ptr<RawStream>> streams;
  for (int i = 0; i < n; ++i) {
    streams.push_back(std::make_unique<RawStream>(ctx.channel));
    absl::Status s = streams.back()->Open(absl::StrCat("bench-floor-", i));
    if (!s.ok()) return s;
    if (!streams.back()->Ping()) return absl::UnavailableError("stream ping failed");
  }
  std::vector<Samples> per_thread(n);
  std::atomic<int64_t> total{0};
  std::atomic<bool> failed{false};
  absl::Time start = absl::Now();
  absl::Time end = start + duration;
  RunThreads(n, [&](int i) {
    int64_t count = 0;
    for (absl::Time t0 = absl::Now(); t0 < end; t0 = absl::Now()) {
      if (!streams[i]->Ping()) {
        failed = true;
        break;
      }
      per_thread[i].Add(absl::Now() - t0);
      ++count;
    }
    total += count;
  });
  double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  for (auto& s : streams) s->Close();
  for (auto& p : per_thread) samples.Merge(p);
  if (failed) return absl::UnavailableError("a session stream broke during the floor");
  return total / elapsed;
}

}  // namespace

void AddAdminAuth(const BenchContext& ctx, grpc::ClientContext& context) {
  if (!ctx.admin_token.empty()) {
    context.AddMetadata("authorization", "Bearer " + ctx.admin_token);
  }
}

std::string RandomAdminToken() {
  std::random_device random;
  std::string token;
  for (int i = 0; i < 4; ++i) absl::StrAppend(&token, absl::Hex(random(), absl::kZeroPad8));
  return token;
}

void RunThreads(int n, const std::function<void(int)>& fn) {
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (int i = 0; i < n; ++i) threads.emplace_back(fn, i);
  for (std::thread& t : threads) t.join();
}

absl::Status RunFloor(BenchContext& ctx, absl::Duration duration, int concurrency) {
  Floor& f = ctx.floor;
  f.concurrency = concurrency;
  // Unary Ping through the client library, one caller.
  Samples unary;
  for (int i = 0; i < 100; ++i) ctx.client->Ping().IgnoreError();  // warm up
  absl::Time start = absl::Now();
  absl::Time end = start + duration;
  for (absl::Time t0 = start; t0 < end; t0 = absl::Now()) {
    absl::Status s = ctx.client->Ping();
    if (!s.ok()) return s;
    unary.Add(absl::Now() - t0);
  }
  f.unary_rate = unary.size() / absl::ToDoubleSeconds(absl::Now() - start);
  f.unary_p50_us = unary.PercentileUs(50);
  f.unary_p99_us = unary.PercentileUs(99);

  Samples one;
  absl::StatusOr<double> rate1 = StreamPings(ctx, 1, duration, one);
  if (!rate1.ok()) return rate1.status();
  f.stream_rate_1 = *rate1;
  f.stream_p50_us = one.PercentileUs(50);
  f.stream_p99_us = one.PercentileUs(99);
  Samples many;
  absl::StatusOr<double> rate_n = StreamPings(ctx, concurrency, duration, many);
  if (!rate_n.ok()) return rate_n.status();
  f.stream_rate_n = *rate_n;

  Report& r = *ctx.report;
  double rt = f.rt_p50_us();
  r.Add({"floor", "unary Ping p50", f.unary_p50_us, "us", f.unary_p50_us / rt, "", {}});
  r.Add({"floor", "unary Ping p99", f.unary_p99_us, "us", f.unary_p99_us / rt, "", {}});
  r.Add({"floor", "unary Ping rate (1 caller)", f.unary_rate, "/s", 1.0, "", {}});
  r.Add({"floor", "stream ping p50", f.stream_p50_us, "us", f.stream_p50_us / rt, "", {}});
  r.Add({"floor", "stream ping p99", f.stream_p99_us, "us", f.stream_p99_us / rt, "", {}});
  r.Add({"floor", "stream ping rate (1 stream)", f.stream_rate_1, "/s", 1.0, "", {}});
  r.Add({"floor", absl::StrCat("stream ping rate (", concurrency, " streams)"),
         f.stream_rate_n, "/s", 1.0, "", {}});
  r.Add({"floor", "round trip p50 (min of the two)", rt, "us", 1.0, "", {}});
  return absl::OkStatus();
}

}  // namespace semaphored::bench
