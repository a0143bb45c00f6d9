#ifndef SEMAPHORED_CLIENT_LIB_SRC_GRANT_HOLDER_H_
#define SEMAPHORED_CLIENT_LIB_SRC_GRANT_HOLDER_H_

#include <memory>

#include "absl/status/status.h"
#include "grant_state.h"

namespace semaphored::internal {

// The session backend that holds a grant: what a Permit gives its grant back to.
// Implemented by LocalSession ('$' names) and RemoteSession (global names); a
// GrantState keeps a weak reference to the one that made it, so a Permit reaches it
// without deciding local or global again. Thread-safe.
class GrantHolder {
 public:
  virtual ~GrantHolder() = default;
  // A Permit sharing `grant` is gone: releases the grant in the background when it
  // was the last one and the grant is not pinned.
  virtual void DropPermit(const std::shared_ptr<GrantState>& grant) = 0;
  // Permit::Release: releases `grant` now and waits for the answer.
  virtual absl::Status ReleaseGrant(const std::shared_ptr<GrantState>& grant) = 0;
};

}  // namespace semaphored::internal

#endif  // SEMAPHORED_CLIENT_LIB_SRC_GRANT_HOLDER_H_
