// The little of HTTP/1.x the metrics endpoint needs.

#include "server/observability/http_request.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace semaphored::server {
namespace {

absl::string_view Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 431:
      return "Request Header Fields Too Large";
    default:
      return "Error";
  }
}

bool IsToken(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < 'A' || c > 'Z') return false;
  }
  return true;
}

}  // namespace

bool RequestHeadComplete(absl::string_view data) {
  return absl::StrContains(data, "\r\n\r\n") || absl::StrContains(data, "\n\n");
}

absl::StatusOr<RequestHead> ParseRequestHead(absl::string_view head) {
  absl::string_view line = head.substr(0, head.find('\n'));
  if (absl::EndsWith(line, "\r")) line.remove_suffix(1);
  const size_t first = line.find(' ');
  const size_t second = first == absl::string_view::npos ? first : line.find(' ', first + 1);
  if (second == absl::string_view::npos) {
    return absl::InvalidArgumentError("the request line is not METHOD TARGET HTTP/1.x");
  }
  const absl::string_view method = line.substr(0, first);
  absl::string_view target = line.substr(first + 1, second - first - 1);
  const absl::string_view version = line.substr(second + 1);
  if (!IsToken(method)) return absl::InvalidArgumentError("the method is not a token");
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    return absl::InvalidArgumentError("only HTTP/1.0 and HTTP/1.1 are served");
  }
  if (target.empty() || target.front() != '/') {
    return absl::InvalidArgumentError("the target is not a path");
  }
  target = target.substr(0, target.find('?'));
  return RequestHead{std::string(method), std::string(target)};
}

std::string HttpAnswer(int status, absl::string_view body, absl::string_view content_type,
                       bool head_only, absl::string_view extra_headers) {
  return absl::StrCat("HTTP/1.1 ", status, " ", Reason(status), "\r\nContent-Type: ",
                      content_type, "\r\nContent-Length: ", body.size(),
                      "\r\nConnection: close\r\n", extra_headers, "\r\n",
                      head_only ? absl::string_view() : body);
}

}  // namespace semaphored::server
