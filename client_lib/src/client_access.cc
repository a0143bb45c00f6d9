// ClientAccess: builds a Client around a Connection (its constructor is private).

#include "client_access.h"

#include <utility>

namespace semaphored::internal {

std::unique_ptr<Client> ClientAccess::Make(std::shared_ptr<Connection> connection) {
  return std::unique_ptr<Client>(new Client(std::move(connection)));
}

}  // namespace semaphored::internal
