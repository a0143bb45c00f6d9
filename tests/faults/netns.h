#ifndef SEMAPHORED_TESTS_FAULTS_NETNS_H_
#define SEMAPHORED_TESTS_FAULTS_NETNS_H_

// A network namespace joined to the host by a veth pair, made by a test with
// iproute2's `ip` and deleted again, to cut a client off the network and let it back.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace semaphored::testing {

// Runs `argv` (argv[0] an absolute path) with stdin from /dev/null, collecting its
// stdout and stderr. OK with the output when it exits 0; otherwise INTERNAL with the
// exit status and the output, NOT_FOUND when argv[0] cannot be executed, or
// DEADLINE_EXCEEDED (the process is killed) after `timeout`.
absl::StatusOr<std::string> RunCommand(const std::vector<std::string>& argv,
                                       absl::Duration timeout = absl::Seconds(10));

// Namespace "smfault<PID>" holding veth end "smfn<PID>" (NS_ADDR/30, up, plus lo up);
// the host keeps the other end "smfh<PID>" (HOST_ADDR/30, up). Addresses come from
// 10.201.0.0/16, one /30 per process id. Only this namespace and pair are touched.
//
// Not thread-safe: one test thread drives it.
class VethNamespace {
 public:
  // First deletes the namespaces and host veth ends of earlier runs whose process is
  // gone (left by a crash), then creates this process's pair (deleting a leftover of
  // the same name first). Errors: PERMISSION_DENIED when this process may not create
  // namespaces (not root, no CAP_SYS_ADMIN/CAP_NET_ADMIN), FAILED_PRECONDITION when
  // `ip` is not installed -- both mean "this machine cannot run the test"; anything
  // else is a real failure. On error nothing is left behind.
  static absl::StatusOr<std::unique_ptr<VethNamespace>> Create();

  // Deletes the namespace (which destroys the veth pair with it).
  ~VethNamespace();
  VethNamespace(const VethNamespace&) = delete;
  VethNamespace& operator=(const VethNamespace&) = delete;

  const std::string& name() const { return name_; }
  // The host end's address (listen here to be reachable from the namespace).
  const std::string& host_address() const { return host_address_; }
  const std::string& ns_address() const { return ns_address_; }

  // Sets the namespace end of the pair down (false) or up (true): a cut cable.
  absl::Status SetLink(bool up);
  // `argv` prefixed so that it runs inside the namespace ("ip netns exec NAME ...").
  std::vector<std::string> InNamespace(const std::vector<std::string>& argv) const;

 private:
  VethNamespace() = default;
  absl::Status Setup();
  void Teardown();

  std::string name_;
  std::string host_if_;
  std::string ns_if_;
  std::string host_address_;
  std::string ns_address_;
};

// The absolute path of iproute2's `ip`, or empty when not installed.
std::string IpBinary();

}  // namespace semaphored::testing

#endif  // SEMAPHORED_TESTS_FAULTS_NETNS_H_
