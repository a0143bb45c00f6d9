// The argument checks shared by every engine operation (see request_checks.h).

#include "engine/request_checks.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/limits.h"
#include "common/names.h"

namespace semaphored::engine {

using internal::kMaxLimit;
using internal::kMaxWait;
using internal::QuoteName;

namespace {

absl::Status CheckLimit(absl::string_view name, int32_t limit) {
  if (limit >= 1 && limit <= kMaxLimit) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("limit ", limit, " for semaphore ", QuoteName(name),
                   " is out of range: the limit must be 1 to ", kMaxLimit));
}

absl::Status CheckPermits(absl::string_view name, int32_t permits) {
  if (permits >= 1 && permits <= kMaxLimit) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("permits ", permits, " for semaphore ", QuoteName(name),
                   " is out of range: it must be at least 1 and at most ", kMaxLimit));
}

absl::Status CheckWait(absl::string_view name, const WaitLimit& wait) {
  const absl::Duration timeout = wait.timeout;
  if (timeout == absl::InfiniteDuration()) return absl::OkStatus();
  if (timeout >= absl::ZeroDuration() && timeout <= kMaxWait) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "timeout ", absl::FormatDuration(timeout), " for semaphore ", QuoteName(name),
      timeout < absl::ZeroDuration() ? " is negative" : " is out of range",
      ": it must be 0 to ", absl::FormatDuration(kMaxWait),
      ", or infinite to wait without a limit"));
}

}  // namespace

absl::Status CheckSetArgs(const SetArgs& args) {
  if (args.limit.has_value()) {
    if (absl::Status s = CheckLimit(args.name, *args.limit); !s.ok()) return s;
  }
  if (absl::Status s = CheckPermits(args.name, args.permits); !s.ok()) return s;
  if (args.limit.has_value()) {
    if (absl::Status s = CheckPermitsWithinLimit(args.name, args.permits, *args.limit);
        !s.ok()) {
      return s;
    }
  }
  return CheckWait(args.name, args.wait);
}

absl::Status CheckWaitClearArgs(const WaitClearArgs& args) {
  return CheckWait(args.name, args.wait);
}

absl::Status CheckPermitsWithinLimit(absl::string_view name, int32_t permits,
                                     int32_t limit) {
  if (permits <= limit) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("permits ", permits, " for semaphore ",
                                                 QuoteName(name), " is more than its limit ",
                                                 limit, ": ask for at most the limit"));
}

absl::Status CheckTtlNotNegative(absl::Duration ttl) {
  if (ttl >= absl::ZeroDuration()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "ttl ", absl::FormatDuration(ttl),
      " is negative: give a positive session TTL, or leave it unset for the "
      "server's default"));
}

absl::Status CheckTtlInRange(absl::Duration ttl, absl::Duration min_ttl,
                             absl::Duration max_ttl) {
  if (ttl >= min_ttl && ttl <= max_ttl) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "session TTL ", absl::FormatDuration(ttl), " is outside this server's range ",
      absl::FormatDuration(min_ttl), " to ", absl::FormatDuration(max_ttl)));
}

absl::Time WaitEnd(const WaitLimit& wait, absl::Time now) {
  if (wait.indefinitely || wait.timeout == absl::InfiniteDuration()) {
    return wait.deadline;
  }
  if (wait.timeout == absl::ZeroDuration()) return absl::InfinitePast();
  return std::min(now + wait.timeout, wait.deadline);
}

}  // namespace semaphored::engine
