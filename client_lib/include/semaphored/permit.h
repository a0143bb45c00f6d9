#ifndef SEMAPHORED_PERMIT_H_
#define SEMAPHORED_PERMIT_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "semaphored/export.h"
#include "semaphored/types.h"

namespace semaphored {

namespace internal {
struct GrantState;
class PermitAccess;
}  // namespace internal

// The result of Session::Acquire: a grant of permits that is released when the Permit
// is destroyed (RAII), or earlier by Release().
//
// A Permit whose acquire did not get the semaphore (a try, or a wait that timed out)
// has acquired() == false and tells who holds it (state()).
//
// Re-acquiring a name the session already holds succeeds without taking more permits
// (already_held() is true). Such Permits SHARE one grant: the grant is released when
// the last Permit sharing it is destroyed, or as soon as any of them calls Release()
// (or Session::Clear is called for the name); the others then report not held. A
// grant made by Session::Set is pinned: destroying Permits that share it does not
// release it; only Clear or Release() does.
//
// A held Permit stops being held when it is released, when an operator revokes the
// semaphore (status() ABORTED; the session's on_revoked is called), when the session
// is lost (status() is the session's error, IsSessionLost() true) or closed.
//
// Release on destruction does not wait for the server's answer; it goes in one message
// with the session's next command when that follows within 300 µs (so an
// acquire/release loop costs about one round trip per pair), else on its own 300 µs
// later (from the library's timer thread). Release() sends at once and waits. An
// error in that background release (other than one already reported as revoked or
// lost) goes to SessionOptions::on_release_error, or, without one, is returned by
// Session::Close().
//
// Movable, not copyable. Const methods may be called from several threads at once;
// non-const ones (move, Release) need the caller's synchronization, as for std types.
// A Permit may outlive its Session (it then reports "session closed").
class SEMAPHORED_EXPORT Permit {
 public:
  // An empty Permit: not acquired, no name.
  Permit();
  // Releases the grant if this is the last Permit sharing it (see above).
  ~Permit();
  Permit(Permit&& other) noexcept;
  // Drops this Permit's grant first (as the destructor does), then takes `other`'s.
  Permit& operator=(Permit&& other) noexcept;
  Permit(const Permit&) = delete;
  Permit& operator=(const Permit&) = delete;

  // True when the acquire call got the semaphore. Fixed at acquisition.
  bool acquired() const { return grant_ != nullptr; }
  // True while the grant is still held (acquired, and not released, revoked, lost or
  // closed since).
  bool held() const;
  // OK while held; otherwise why not: FAILED_PRECONDITION when it was not acquired
  // (names the holder), released or its session closed; ABORTED when revoked; the
  // session's error when the session was lost.
  absl::Status status() const;

  const std::string& name() const { return name_; }
  // True when the session already held the semaphore before this acquire.
  bool already_held() const { return already_held_; }
  // The grant: the fencing token to give a protected resource, the permits the
  // session holds, and since when (0, 0 and absl::InfinitePast() when not acquired).
  uint64_t fencing_token() const;
  int32_t permits() const;
  absl::Time since() const;
  // When not acquired: the semaphore as it stood (who holds it, since when).
  const SemaphoreInfo& state() const { return state_; }

  // Releases the grant now and waits for the answer. Every Permit sharing the grant
  // then reports not held. Returns OK when released by this call; otherwise status()
  // (a Permit that was not acquired, or is no longer held), or the server's error.
  absl::Status Release();

 private:
  friend class internal::PermitAccess;
  void Drop();

  std::string name_;
  bool already_held_ = false;
  SemaphoreInfo state_;
  std::shared_ptr<internal::GrantState> grant_;
};

}  // namespace semaphored

#endif  // SEMAPHORED_PERMIT_H_
