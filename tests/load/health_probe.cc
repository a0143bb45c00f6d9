// The load tests' health probe: Health/Check calls while a load runs, and the server's memory.

#include "tests/load/health_probe.h"

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "tests/faults/server_child.h"

namespace semaphored::testing {

HealthProbe::HealthProbe(const std::string& address, absl::Duration interval,
                         absl::Duration bound, pid_t watch_pid)
    : thread_([this, address, interval, bound, watch_pid] {
        Run(address, interval, bound, watch_pid);
      }) {}

HealthProbe::~HealthProbe() { Stop(); }

void HealthProbe::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

HealthProbe::Result HealthProbe::result() const {
  absl::MutexLock lock(&mu_);
  return result_;
}

void HealthProbe::Run(const std::string& address, absl::Duration interval,
                      absl::Duration bound, pid_t watch_pid) {
  grpc::ChannelArguments args;
  // Its own connection: the probe must not queue behind the load's streams in the
  // client, only (as any new client would) at the server.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
  // Bounded by the stop signal; each round by `bound` plus `interval`.
  while (!stop_.HasBeenNotified()) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + bound));
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    const absl::Time start = absl::Now();
    const grpc::Status status = stub->Check(&context, request, &response);
    const absl::Duration latency = absl::Now() - start;
    absl::StatusOr<int64_t> rss = ResidentBytes(watch_pid);
    {
      absl::MutexLock lock(&mu_);
      ++result_.calls;
      result_.max_latency = std::max(result_.max_latency, latency);
      if (!status.ok() ||
          response.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
        if (result_.failures++ == 0) {
          result_.first_failure = absl::StrCat(
              "code ", status.error_code(), " \"", status.error_message(), "\", status ",
              response.status(), " after ", absl::FormatDuration(latency));
        }
      }
      if (rss.ok()) result_.peak_rss = std::max(result_.peak_rss, *rss);
    }
    stop_.WaitForNotificationWithTimeout(interval);  // the probe's cadence
  }
}

}  // namespace semaphored::testing
