#ifndef SEMAPHORED_CLIENT_LIB_SRC_CLIENT_ACCESS_H_
#define SEMAPHORED_CLIENT_LIB_SRC_CLIENT_ACCESS_H_

#include <memory>

#include "connection.h"
#include "semaphored/client.h"

namespace semaphored::internal {

// Builds a Client around a connection (tests build one over fakes).
class ClientAccess {
 public:
  static std::unique_ptr<Client> Make(std::shared_ptr<Connection> connection);
};

}  // namespace semaphored::internal

#endif  // SEMAPHORED_CLIENT_LIB_SRC_CLIENT_ACCESS_H_
