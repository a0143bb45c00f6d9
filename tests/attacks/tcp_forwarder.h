#ifndef SEMAPHORED_TESTS_ATTACKS_TCP_FORWARDER_H_
#define SEMAPHORED_TESTS_ATTACKS_TCP_FORWARDER_H_

// A plain TCP forwarder on loopback, as a sidecar, `ssh -L` or `kubectl port-forward`
// would be: it listens on 127.0.0.1 and copies bytes both ways to a target, from a
// chosen source address (127.0.0.2 makes its connections another peer host).
//
// One thread serves every connection with poll(2); it stops in the destructor.

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace semaphored::testing {

class TcpForwarder {
 public:
  // Listens on 127.0.0.1:0 and forwards each connection to `target_host`:`target_port`,
  // connecting from `source_host` (any local address when empty).
  static absl::StatusOr<std::unique_ptr<TcpForwarder>> Start(
      const std::string& target_host, int target_port, const std::string& source_host = "");
  // Closes every connection and joins the thread.
  ~TcpForwarder();
  TcpForwarder(const TcpForwarder&) = delete;
  TcpForwarder& operator=(const TcpForwarder&) = delete;

  // "127.0.0.1:PORT", to connect to.
  std::string address() const;
  int connections() const { return connections_.load(); }

 private:
  TcpForwarder(int listen_fd, int port, std::string target_host, int target_port,
               std::string source_host);
  void Run();

  const int listen_fd_;
  const int port_;
  const std::string target_host_;
  const int target_port_;
  const std::string source_host_;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

}  // namespace semaphored::testing

#endif  // SEMAPHORED_TESTS_ATTACKS_TCP_FORWARDER_H_
