// The attack suite's monitor: probes an attacked server's health and samples its memory.

#include "tests/attacks/attack_monitor.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/attacks/grpc_util.h"

namespace semaphored::testing {

AttackMonitor::AttackMonitor(AttackedServer* server)
    : server_(server), prober_([this] { Probe(); }), sampler_([this] { Sample(); }) {}

AttackMonitor::~AttackMonitor() { Stop(); }

AttackMonitor::Result AttackMonitor::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (prober_.joinable()) prober_.join();
  if (sampler_.joinable()) sampler_.join();
  absl::MutexLock lock(&mu_);
  if (bad_since_ != absl::InfiniteFuture()) {
    result_.unavailable += absl::Now() - bad_since_;
    bad_since_ = absl::InfiniteFuture();
  }
  return result_;
}

void AttackMonitor::Probe() {
  const std::string address = server_->grpc_address();
  while (!stop_.HasBeenNotified()) {
    const absl::Time start = absl::Now();
    const grpc::Status status = HealthCheckNewConnection(address, kProbeDeadline);
    const absl::Duration latency = absl::Now() - start;
    {
      absl::MutexLock lock(&mu_);
      ++result_.probes;
      result_.max_health_latency = std::max(result_.max_health_latency, latency);
      if (!status.ok() || latency > kAvailableWithin) {
        if (result_.probe_failures++ == 0) {
          result_.first_failure =
              absl::StrCat(status.ok() ? "OK" : absl::StrCat("code ", status.error_code()),
                           " after ", absl::FormatDuration(latency),
                           status.ok() ? "" : absl::StrCat(": ", status.error_message()));
        }
        bad_since_ = std::min(bad_since_, start);
      } else if (bad_since_ != absl::InfiniteFuture()) {
        result_.unavailable += start - bad_since_;
        bad_since_ = absl::InfiniteFuture();
      }
    }
    stop_.WaitForNotificationWithTimeout(kProbeInterval);
  }
}

void AttackMonitor::Sample() {
  while (!stop_.HasBeenNotified()) {
    absl::StatusOr<AttackedServer::Memory> memory = server_->ReadMemory();
    if (memory.ok()) {
      bool kill = false;
      {
        absl::MutexLock lock(&mu_);
        result_.peak_rss = std::max({result_.peak_rss, memory->hwm, memory->rss});
        if (!server_->in_cgroup() && memory->rss > server_->memory_limit()) {
          kill = !result_.watchdog_killed;
          result_.watchdog_killed = true;
        }
      }
      if (kill) server_->Kill();
    }
    stop_.WaitForNotificationWithTimeout(absl::Milliseconds(10));
  }
}

}  // namespace semaphored::testing
