#ifndef SEMAPHORED_CLIENT_LIB_SRC_GRANT_STATE_H_
#define SEMAPHORED_CLIENT_LIB_SRC_GRANT_STATE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "errors_internal.h"

namespace semaphored::internal {

class GrantHolder;

// One grant a session holds on one name, shared by every Permit that acquired it
// (see permit.h). The session backend that made it (its `holder`) changes the permit
// count and the pin only while holding its own lock, so that its decisions to release
// see them consistently. Its lock is the last in the session's lock order (see
// session_router.h): nothing else is taken while it is held. Thread-safe.
struct GrantState {
  GrantState(std::string name, uint64_t fencing_token, int32_t permits,
             absl::Time since, std::weak_ptr<GrantHolder> holder)
      : name(std::move(name)),
        fencing_token(fencing_token),
        permits(permits),
        since(since),
        holder(std::move(holder)) {}

  const std::string name;
  const uint64_t fencing_token;
  const int32_t permits;
  const absl::Time since;
  // The backend a Permit gives the grant back to.
  const std::weak_ptr<GrantHolder> holder;

  bool held() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return status_.ok() && !released_;
  }
  // OK while held; else why it ended.
  absl::Status status() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (released_) return ReleasedError(name);
    return status_;
  }
  // Ends the grant with `why` (not OK). Returns false when it had already ended (the
  // first reason stays).
  bool End(absl::Status why) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (!status_.ok() || released_) return false;
    status_ = std::move(why);
    return true;
  }
  // End(ReleasedError(name)), without building the error until status() asks: every
  // clear ends a grant, and few look at the reason.
  bool EndReleased() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (!status_.ok() || released_) return false;
    released_ = true;
    return true;
  }
  void AddPermit() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    ++permit_count_;
  }
  // Returns how many Permits still share the grant.
  int DropPermit() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return --permit_count_;
  }
  void Pin() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    pinned_ = true;
  }
  bool pinned() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return pinned_;
  }

 private:
  // Their locks are ordered before this one (ACQUIRED_BEFORE names it).
  friend class LocalSession;
  friend class RemoteSession;

  mutable absl::Mutex mu_;
  // State below is protected by mu_.
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  bool released_ ABSL_GUARDED_BY(mu_) = false;  // ended by a release (status_ is OK)
  int permit_count_ ABSL_GUARDED_BY(mu_) = 0;
  bool pinned_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace semaphored::internal

#endif  // SEMAPHORED_CLIENT_LIB_SRC_GRANT_STATE_H_
