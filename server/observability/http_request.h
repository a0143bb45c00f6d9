#ifndef SEMAPHORED_SERVER_OBSERVABILITY_HTTP_REQUEST_H_
#define SEMAPHORED_SERVER_OBSERVABILITY_HTTP_REQUEST_H_

// The little of HTTP/1.x the metrics endpoint needs: finding the end of a request
// head, reading its request line, and formatting a whole answer. Pure functions.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace semaphored::server {

struct RequestHead {
  std::string method;  // as sent, e.g. "GET"
  std::string path;    // the request target without its query ("/metrics")
};

// Whether `data` holds a whole request head: an empty line ("\r\n\r\n", or a bare
// "\n\n" from a lenient client) ends it.
bool RequestHeadComplete(absl::string_view data);

// The method and path of a whole head: "METHOD SP TARGET SP HTTP/1.x" on its first
// line. INVALID_ARGUMENT saying what is wrong otherwise (the headers after the first
// line are not interpreted: the server reads no body whatever they announce).
absl::StatusOr<RequestHead> ParseRequestHead(absl::string_view head);

// A whole HTTP/1.1 answer with `status`, Content-Type, Content-Length (of `body`),
// "Connection: close", `extra_headers` (each ending in "\r\n") and the body unless
// `head_only` (an answer to HEAD).
std::string HttpAnswer(int status, absl::string_view body,
                       absl::string_view content_type = "text/plain; charset=utf-8",
                       bool head_only = false, absl::string_view extra_headers = "");

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_OBSERVABILITY_HTTP_REQUEST_H_
