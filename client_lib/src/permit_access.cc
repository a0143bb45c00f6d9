// PermitAccess: builds Permits from a session backend's answer to a set.

#include "permit_access.h"

#include <string>
#include <utility>

namespace semaphored::internal {

Permit PermitAccess::Make(std::string_view name, GrantOrState answer) {
  Permit permit;
  permit.name_ = std::string(name);
  permit.already_held_ = answer.already_held;
  permit.state_ = std::move(answer.state);
  permit.grant_ = std::move(answer.grant);
  return permit;
}

}  // namespace semaphored::internal
