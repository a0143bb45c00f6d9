// Serving the server's unary methods: what is not a template (see unary_call.h).

#include "server/service/unary_call.h"

namespace semaphored::server {

absl::Status AdmitAll() { return absl::OkStatus(); }

}  // namespace semaphored::server
