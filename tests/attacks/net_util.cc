// The attack suite's plain IPv4 TCP sockets, every call bounded in time, and a bare HTTP exchange.

#include "tests/attacks/net_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace semaphored::testing {
namespace {

absl::Status Errno(absl::string_view what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", std::strerror(errno)));
}

bool FillAddress(const std::string& host, int port, sockaddr_in* address) {
  std::memset(address, 0, sizeof *address);
  address->sin_family = AF_INET;
  address->sin_port = htons(static_cast<uint16_t>(port));
  return ::inet_pton(AF_INET, host.c_str(), &address->sin_addr) == 1;
}

int PollMillis(absl::Duration left) {
  return static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(left)) + 1);
}

}  // namespace

absl::StatusOr<int> ConnectTcp(const std::string& host, int port, absl::Duration timeout,
                               const std::string& source_host) {
  sockaddr_in to;
  if (!FillAddress(host, port, &to)) {
    return absl::InvalidArgumentError(absl::StrCat("not an IPv4 address: ", host));
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (!source_host.empty()) {
    sockaddr_in from;
    if (!FillAddress(source_host, 0, &from) ||
        ::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
      absl::Status s = Errno(absl::StrCat("bind ", source_host));
      ::close(fd);
      return s;
    }
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0 &&
      errno != EINPROGRESS) {
    absl::Status s = Errno(absl::StrCat("connect ", host, ":", port));
    ::close(fd);
    return s;
  }
  pollfd p{fd, POLLOUT, 0};
  if (::poll(&p, 1, PollMillis(timeout)) <= 0) {
    ::close(fd);
    return absl::DeadlineExceededError(
        absl::StrCat("connect ", host, ":", port, " took over ", absl::FormatDuration(timeout)));
  }
  int error = 0;
  socklen_t len = sizeof error;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
  if (error != 0) {
    ::close(fd);
    return absl::UnavailableError(
        absl::StrCat("connect ", host, ":", port, ": ", std::strerror(error)));
  }
  return fd;
}

absl::StatusOr<int> ListenTcp(const std::string& host, int* port) {
  sockaddr_in at;
  if (!FillAddress(host, 0, &at)) {
    return absl::InvalidArgumentError(absl::StrCat("not an IPv4 address: ", host));
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  socklen_t len = sizeof at;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0 ||
      ::listen(fd, 1024) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&at), &len) != 0) {
    absl::Status s = Errno(absl::StrCat("listen on ", host));
    ::close(fd);
    return s;
  }
  *port = ntohs(at.sin_port);
  return fd;
}

absl::Status SendAll(int fd, absl::string_view data, absl::Duration timeout) {
  absl::Time give_up = absl::Now() + timeout;
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      give_up = absl::Now() + timeout;  // the peer is reading: a fresh allowance
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      return Errno("send");
    }
    const absl::Duration left = give_up - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(absl::StrCat(
          "the peer read nothing for ", absl::FormatDuration(timeout)));
    }
    pollfd p{fd, POLLOUT, 0};
    ::poll(&p, 1, PollMillis(left));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> RecvSome(int fd, absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  char buffer[65536];
  while (true) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n >= 0) return std::string(buffer, static_cast<size_t>(n));
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return Errno("recv");
    const absl::Duration left = give_up - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(
          absl::StrCat("nothing to read within ", absl::FormatDuration(timeout)));
    }
    pollfd p{fd, POLLIN, 0};
    ::poll(&p, 1, PollMillis(left));
  }
}

absl::StatusOr<std::string> HttpExchange(const std::string& host, int port,
                                         absl::string_view request,
                                         absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  absl::StatusOr<int> fd = ConnectTcp(host, port, timeout);
  if (!fd.ok()) return fd.status();
  absl::Status sent = SendAll(*fd, request, give_up - absl::Now());
  std::string answer;
  while (sent.ok()) {
    const absl::Duration left = give_up - absl::Now();
    if (left <= absl::ZeroDuration()) {
      sent = absl::DeadlineExceededError(absl::StrCat(
          "no complete answer within ", absl::FormatDuration(timeout), " (got ",
          answer.size(), " bytes)"));
      break;
    }
    absl::StatusOr<std::string> some = RecvSome(*fd, left);
    if (!some.ok()) {
      // A reset after a complete answer is still an answer.
      if (!answer.empty() && absl::IsUnavailable(some.status())) break;
      sent = some.status();
      break;
    }
    if (some->empty()) break;  // closed: the answer is complete
    answer += *some;
  }
  ::close(*fd);
  if (!sent.ok()) return sent;
  return answer;
}

absl::Status SplitHostPort(absl::string_view address, std::string* host, int* port) {
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), port)) {
    return absl::InvalidArgumentError(absl::StrCat("not HOST:PORT: ", address));
  }
  *host = std::string(address.substr(0, colon));
  return absl::OkStatus();
}

}  // namespace semaphored::testing
