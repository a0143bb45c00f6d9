#ifndef SEMAPHORED_TOOLS_SEMCTL_HELD_NAME_H_
#define SEMAPHORED_TOOLS_SEMCTL_HELD_NAME_H_

#include <memory>
#include <optional>

#include "semaphored/client.h"
#include "semaphored/permit.h"
#include "semaphored/session.h"

namespace semaphored::semctl {

// What `set` and `run` hold while they work: the connection, semctl's session and
// the grant (destroyed in reverse order).
struct HeldName {
  std::unique_ptr<Client> client;
  std::unique_ptr<Session> session;
  std::optional<Permit> permit;
};

}  // namespace semaphored::semctl

#endif  // SEMAPHORED_TOOLS_SEMCTL_HELD_NAME_H_
