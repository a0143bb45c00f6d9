// The throttle of refused admin credentials, per peer host.

#include "server/service/admin_throttle.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace semaphored::server {

using ::semaphored::internal::Clock;
namespace {

constexpr absl::string_view kOverflowHost = "*";

}  // namespace

AdminThrottle::AdminThrottle(const Clock* clock, Options options)
    : clock_(clock), options_(options) {}

bool AdminThrottle::Idle(const Record& r, absl::Time now) const {
  return now >= r.blocked_until && now - r.last_failure >= options_.forget_after &&
         now - r.last_log >= options_.log_interval;
}

AdminThrottle::Record& AdminThrottle::RecordFor(absl::string_view host, absl::Time now) {
  auto it = hosts_.find(host);
  if (it != hosts_.end()) return it->second;
  if (hosts_.size() >= options_.max_hosts) {
    // A sweep costs the whole table, so at most one per log interval; between sweeps
    // newcomers share the overflow record.
    if (now - last_sweep_ >= options_.log_interval) {
      last_sweep_ = now;
      absl::erase_if(hosts_, [&](const auto& entry) { return Idle(entry.second, now); });
    }
    if (hosts_.size() >= options_.max_hosts) return hosts_[kOverflowHost];
  }
  return hosts_[host];
}

absl::Status AdminThrottle::Admit(absl::string_view host) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  auto it = hosts_.find(host);
  if (it == hosts_.end() && hosts_.size() >= options_.max_hosts) {
    it = hosts_.find(kOverflowHost);
  }
  if (it == hosts_.end() || now >= it->second.blocked_until) return absl::OkStatus();
  const int64_t seconds = static_cast<int64_t>(
      std::ceil(absl::ToDoubleSeconds(it->second.blocked_until - now)));
  return absl::ResourceExhaustedError(absl::StrCat(
      "too many failed admin attempts from ", host, " (", it->second.failures,
      " refused in a row; ", options_.free_failures,
      " are allowed, then each blocks the address for ",
      absl::FormatDuration(options_.first_backoff), " doubling up to ",
      absl::FormatDuration(options_.max_backoff), "); retry in ",
      std::max<int64_t>(seconds, 1),
      " s with the right token, or use the admin socket on the server's machine"));
}

void AdminThrottle::RecordFailure(absl::string_view host) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  Record& r = RecordFor(host, now);
  if (now - r.last_failure >= options_.forget_after) r.failures = 0;
  r.last_failure = now;
  ++r.failures;
  const int over = r.failures - options_.free_failures;
  if (over < 0) return;
  // 2^over, capped well before it could overflow.
  absl::Duration backoff = options_.first_backoff;
  for (int i = 0; i < over && backoff < options_.max_backoff; ++i) backoff *= 2;
  r.blocked_until = now + std::min(backoff, options_.max_backoff);
}

void AdminThrottle::RecordSuccess(absl::string_view host) {
  absl::MutexLock lock(&mu_);
  auto it = hosts_.find(host);
  // The log state goes too: the next refusal is worth a line at once.
  if (it != hosts_.end()) hosts_.erase(it);
}

bool AdminThrottle::ShouldLog(absl::string_view host, int64_t* suppressed) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  Record& r = RecordFor(host, now);
  if (now - r.last_log < options_.log_interval) {
    ++r.suppressed;
    return false;
  }
  r.last_log = now;
  *suppressed = r.suppressed;
  r.suppressed = 0;
  return true;
}

size_t AdminThrottle::HostCount() const {
  absl::MutexLock lock(&mu_);
  return hosts_.size();
}

}  // namespace semaphored::server
