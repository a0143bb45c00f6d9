// The admin service through a same-host forwarder: any sidecar, `ssh -L` or
// `kubectl port-forward` makes a remote caller a loopback peer.

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "semaphored/v1/admin.grpc.pb.h"
#include "tests/attacks/attacks.h"
#include "tests/attacks/grpc_util.h"
#include "tests/attacks/net_util.h"
#include "tests/attacks/tcp_forwarder.h"

namespace semaphored::testing {
namespace {

absl::StatusOr<std::unique_ptr<TcpForwarder>> ForwarderTo(const std::string& address) {
  std::string host;
  int port = 0;
  if (absl::Status s = SplitHostPort(address, &host, &port); !s.ok()) return s;
  return TcpForwarder::Start(host, port);
}

}  // namespace

// Sends Drain, with no token, through a plain TCP forwarder.
AttackReport AdminDrainThroughForwarder(const AttackTarget& target,
                                        const AttackOptions& options) {
  AttackReport report;
  absl::StatusOr<std::unique_ptr<TcpForwarder>> forwarder = ForwarderTo(target.grpc_address);
  if (!forwarder.ok()) {
    report.Add("error", forwarder.status().ToString());
    return report;
  }
  auto admin = v1::AdminService::NewStub(OwnChannel((*forwarder)->address()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + options.duration));
  v1::DrainRequest request;
  request.set_reason("attack through a forwarder");
  v1::DrainResponse response;
  const grpc::Status status = admin->Drain(&context, request, &response);
  report.Add("drain_code", static_cast<int64_t>(status.error_code()));
  report.Add("drain", status.ok() ? "accepted" : "refused");
  if (!status.ok()) report.Add("message", absl::StrReplaceAll(status.error_message(), {{" ", "_"}}));
  return report;
}

// Guesses admin tokens (ListSessions with random 32-hex-digit bearer tokens) from
// `concurrency` threads (default 4) through a forwarder for `duration` (default 3 s).
// "checked" counts the answers that say the token is wrong (PERMISSION_DENIED or
// UNAUTHENTICATED): each one is a guess the server tried. Throttled attempts are
// expected to be delayed or answered otherwise (RESOURCE_EXHAUSTED, UNAVAILABLE).
AttackReport AdminTokenGuessing(const AttackTarget& target, const AttackOptions& options) {
  AttackReport report;
  absl::StatusOr<std::unique_ptr<TcpForwarder>> forwarder = ForwarderTo(target.grpc_address);
  if (!forwarder.ok()) {
    report.Add("error", forwarder.status().ToString());
    return report;
  }
  std::atomic<int64_t> checked{0}, throttled{0}, accepted{0}, other{0};
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + options.duration;
  std::vector<std::thread> threads;
  for (int64_t t = 0; t < options.concurrency; ++t) {
    threads.emplace_back([&] {
      absl::BitGen random;
      auto admin = v1::AdminService::NewStub(OwnChannel((*forwarder)->address()));
      while (absl::Now() < deadline) {
        grpc::ClientContext context;
        context.set_deadline(absl::ToChronoTime(deadline));
        context.AddMetadata("authorization",
                            absl::StrFormat("Bearer %016x%016x", absl::Uniform<uint64_t>(random),
                                            absl::Uniform<uint64_t>(random)));
        v1::ListSessionsRequest request;
        request.set_page_size(1);
        v1::ListSessionsResponse response;
        const grpc::Status status = admin->ListSessions(&context, request, &response);
        switch (status.error_code()) {
          case grpc::StatusCode::PERMISSION_DENIED:
          case grpc::StatusCode::UNAUTHENTICATED:
            checked.fetch_add(1);
            break;
          case grpc::StatusCode::RESOURCE_EXHAUSTED:
          case grpc::StatusCode::UNAVAILABLE:
            throttled.fetch_add(1);
            break;
          case grpc::StatusCode::OK:
            accepted.fetch_add(1);
            break;
          default:
            other.fetch_add(1);
            break;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  report.Add("checked", checked.load());
  report.Add("checked_per_second", static_cast<int64_t>(checked.load() / seconds));
  report.Add("throttled", throttled.load());
  report.Add("accepted", accepted.load());
  report.Add("other", other.load());
  return report;
}

}  // namespace semaphored::testing
