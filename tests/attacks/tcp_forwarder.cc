// The attack suite's TCP forwarder: relays bytes between a client and the server.

#include "tests/attacks/tcp_forwarder.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "tests/attacks/net_util.h"

namespace semaphored::testing {
namespace {

// One forwarded connection: bytes read from one side wait in `pending` until the
// other side takes them (at most kMaxPending each way, so a slow side slows the other).
struct Pipe {
  int fd[2];
  std::string pending[2];  // pending[i]: read from fd[i], to write to fd[1 - i]
  bool read_closed[2] = {false, false};
};
constexpr size_t kMaxPending = 1 << 20;

void CloseBoth(Pipe& pipe) {
  ::close(pipe.fd[0]);
  ::close(pipe.fd[1]);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TcpForwarder>> TcpForwarder::Start(
    const std::string& target_host, int target_port, const std::string& source_host) {
  int port = 0;
  absl::StatusOr<int> fd = ListenTcp("127.0.0.1", &port);
  if (!fd.ok()) return fd.status();
  return std::unique_ptr<TcpForwarder>(
      new TcpForwarder(*fd, port, target_host, target_port, source_host));
}

TcpForwarder::TcpForwarder(int listen_fd, int port, std::string target_host,
                           int target_port, std::string source_host)
    : listen_fd_(listen_fd),
      port_(port),
      target_host_(std::move(target_host)),
      target_port_(target_port),
      source_host_(std::move(source_host)),
      thread_([this] { Run(); }) {}

TcpForwarder::~TcpForwarder() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  ::close(listen_fd_);
}

std::string TcpForwarder::address() const { return absl::StrCat("127.0.0.1:", port_); }

void TcpForwarder::Run() {
  std::vector<Pipe> pipes;
  while (!stop_.load()) {
    std::vector<pollfd> polls = {{listen_fd_, POLLIN, 0}};
    for (const Pipe& p : pipes) {
      for (int side = 0; side < 2; ++side) {
        short events = 0;
        if (!p.read_closed[side] && p.pending[side].size() < kMaxPending) events |= POLLIN;
        if (!p.pending[1 - side].empty()) events |= POLLOUT;
        polls.push_back({p.fd[side], events, 0});
      }
    }
    if (::poll(polls.data(), polls.size(), 50) <= 0) continue;
    const size_t polled = pipes.size();  // pipes accepted below are polled next round
    if ((polls[0].revents & POLLIN) != 0) {
      const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (client >= 0) {
        absl::StatusOr<int> server =
            ConnectTcp(target_host_, target_port_, absl::Seconds(2), source_host_);
        if (server.ok()) {
          pipes.push_back(Pipe{{client, *server}, {}, {false, false}});
          connections_.fetch_add(1);
        } else {
          ::close(client);
        }
      }
    }
    std::vector<Pipe> live;
    for (size_t i = 0; i < polled; ++i) {
      Pipe& p = pipes[i];
      bool dead = false;
      for (int side = 0; side < 2 && !dead; ++side) {
        const short revents = polls[1 + 2 * i + side].revents;
        if ((revents & (POLLIN | POLLHUP | POLLERR)) != 0 && !p.read_closed[side]) {
          char buffer[65536];
          const ssize_t n = ::recv(p.fd[side], buffer, sizeof buffer, 0);
          if (n > 0) {
            p.pending[side].append(buffer, static_cast<size_t>(n));
          } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            p.read_closed[side] = true;
            ::shutdown(p.fd[1 - side], SHUT_WR);
          }
        }
        if (!p.pending[1 - side].empty()) {
          const ssize_t n = ::send(p.fd[side], p.pending[1 - side].data(),
                                   p.pending[1 - side].size(), MSG_NOSIGNAL);
          if (n > 0) {
            p.pending[1 - side].erase(0, static_cast<size_t>(n));
          } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            dead = true;
          }
        }
      }
      if (dead || (p.read_closed[0] && p.read_closed[1] && p.pending[0].empty() &&
                   p.pending[1].empty())) {
        CloseBoth(p);
      } else {
        live.push_back(std::move(p));
      }
    }
    for (size_t i = polled; i < pipes.size(); ++i) live.push_back(std::move(pipes[i]));
    pipes = std::move(live);
  }
  for (Pipe& p : pipes) CloseBoth(p);
}

}  // namespace semaphored::testing
