#ifndef SEMAPHORED_TESTS_ATTACKS_NET_UTIL_H_
#define SEMAPHORED_TESTS_ATTACKS_NET_UTIL_H_

// Plain IPv4 TCP sockets for the attack suite, every call bounded in time. Sockets are
// non-blocking and close-on-exec; the caller owns and closes the descriptors.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace semaphored::testing {

// Connects to `host`:`port` (IPv4 dotted quad), from `source_host` when not empty (for
// example 127.0.0.2, to be another peer on loopback). Fails with DEADLINE_EXCEEDED
// after `timeout`, or UNAVAILABLE with the errno text.
absl::StatusOr<int> ConnectTcp(const std::string& host, int port, absl::Duration timeout,
                               const std::string& source_host = "");
// Listens on `host`:0; the descriptor, and the chosen port in `*port`.
absl::StatusOr<int> ListenTcp(const std::string& host, int* port);
// Writes all of `data`; DEADLINE_EXCEEDED when the peer reads nothing for `timeout`,
// UNAVAILABLE when the connection fails. Never raises SIGPIPE.
absl::Status SendAll(int fd, absl::string_view data, absl::Duration timeout);
// Reads what is there, waiting at most `timeout` for the first byte: the bytes (empty
// at end of stream), DEADLINE_EXCEEDED, or UNAVAILABLE.
absl::StatusOr<std::string> RecvSome(int fd, absl::Duration timeout);
// Sends `request` and reads the answer until the server closes, all within `timeout`;
// the whole answer, or the error.
absl::StatusOr<std::string> HttpExchange(const std::string& host, int port,
                                         absl::string_view request, absl::Duration timeout);

// "HOST:PORT" split; INVALID_ARGUMENT when malformed.
absl::Status SplitHostPort(absl::string_view address, std::string* host, int* port);

}  // namespace semaphored::testing

#endif  // SEMAPHORED_TESTS_ATTACKS_NET_UTIL_H_
