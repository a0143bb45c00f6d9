#ifndef SEMAPHORED_SERVER_SERVICE_ADMIN_THROTTLE_H_
#define SEMAPHORED_SERVER_SERVICE_ADMIN_THROTTLE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace semaphored::server {

// Slows down guessing of the admin token, and keeps refused attempts from flooding the
// log, per peer host (PeerHost in peer.h). Plain C++ with an injectable clock.
//
// Throttling: a host's first `free_failures` refusals in a row cost nothing; each
// further one blocks the host for `first_backoff`, doubled per refusal up to
// `max_backoff` (defaults: 5 free, then 1 s, 2 s, 4 s ... 60 s). While blocked, Admit
// answers RESOURCE_EXHAUSTED without the credential being looked at. An accepted
// credential clears the host's record; a host refused nothing for `forget_after` starts
// again from zero. At the defaults a guesser gets about 1,500 tries a day per address.
//
// Logging: at most one refusal line per host per `log_interval`; ShouldLog says when to
// write one and how many were left out since the last.
//
// Memory is bounded: at most `max_hosts` records; when full, idle records are dropped
// and, if none is idle, the new host shares one overflow record ("*") with the others
// that did not fit (they are throttled together).
//
// Thread-safe; never blocks beyond its own short lock.
class AdminThrottle {
 public:
  struct Options {
    int free_failures = 5;
    absl::Duration first_backoff = absl::Seconds(1);
    absl::Duration max_backoff = absl::Seconds(60);
    absl::Duration forget_after = absl::Minutes(10);
    absl::Duration log_interval = absl::Seconds(1);
    size_t max_hosts = 10000;
  };

  // `clock` must outlive the throttle.
  explicit AdminThrottle(const internal::Clock* clock)
      : AdminThrottle(clock, Options()) {}
  AdminThrottle(const internal::Clock* clock, Options options);

  // Before looking at a caller's credential: OK, or RESOURCE_EXHAUSTED "too many failed
  // admin attempts from HOST (N refused in a row); retry in S s" while `host` is blocked.
  absl::Status Admit(absl::string_view host) ABSL_LOCKS_EXCLUDED(mu_);
  // A credential from `host` was refused (missing or wrong).
  void RecordFailure(absl::string_view host) ABSL_LOCKS_EXCLUDED(mu_);
  // A credential from `host` was accepted: its record is dropped.
  void RecordSuccess(absl::string_view host) ABSL_LOCKS_EXCLUDED(mu_);
  // Whether to log a refusal of `host` now. When true, `*suppressed` is the number of
  // refusals of `host` not logged since its previous line; when false, this one is
  // counted among them.
  bool ShouldLog(absl::string_view host, int64_t* suppressed) ABSL_LOCKS_EXCLUDED(mu_);

  // The number of host records (for tests of the bound).
  size_t HostCount() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Record {
    int failures = 0;  // refusals in a row
    absl::Time last_failure = absl::InfinitePast();
    absl::Time blocked_until = absl::InfinitePast();
    absl::Time last_log = absl::InfinitePast();
    int64_t suppressed = 0;
  };
  // The record of `host`, made if needed (or the overflow record when full).
  Record& RecordFor(absl::string_view host, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Idle(const Record& r, absl::Time now) const;

  const internal::Clock* const clock_;
  const Options options_;
  mutable absl::Mutex mu_;
  // State below is protected by mu_.
  absl::flat_hash_map<std::string, Record> hosts_ ABSL_GUARDED_BY(mu_);
  absl::Time last_sweep_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_SERVICE_ADMIN_THROTTLE_H_
