#ifndef SEMAPHORED_SERVER_LISTENER_CHECK_H_
#define SEMAPHORED_SERVER_LISTENER_CHECK_H_

// A self-check that the gRPC listener still accepts connections.
//
// Why: in Debian's gRPC 1.51.1 (CVE-2023-4785), an accept() that fails because the
// process ran out of file descriptors stops the listener for good: the port stays
// bound, the kernel keeps completing TCP handshakes into the backlog, and nothing is
// ever served again while the calls already running carry on. A plain TCP connect
// therefore proves nothing; the probe waits for the server's own answer.

#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace semaphored::server {

// Connects to HOST:PORT (a numeric address or a name; "[v6]" brackets allowed) and
// waits, at most `timeout` in all, for the server to answer as only an accepting
// server can: over plaintext (`tls` false) it sends the HTTP/2 client preface and
// expects the server's SETTINGS frame; over TLS it sends a TLS 1.2 ClientHello and
// expects any answer (the ServerHello, an alert, or the connection closed), then
// abandons the handshake. OK when it did;
// UNAVAILABLE saying what failed otherwise (no socket, connect refused, no answer
// within the timeout...). Blocks the caller for at most `timeout`.
absl::Status ProbeListener(const std::string& host, int port, bool tls,
                           absl::Duration timeout);

// Runs `probe` on its own thread, `interval` after the previous probe ended (the first
// one interval after construction), so probes never overlap. When
// `failures_allowed` probes in a row have failed, calls `on_dead(last_error)` once, on
// that thread, and stops probing. Not called once the destructor has started, unless
// the destructor finds it running: it then waits for it to return.
//
// Thread-safe; the destructor stops the thread and waits for a probe in progress.
class ListenerCheck {
 public:
  using Probe = std::function<absl::Status()>;
  using OnDead = std::function<void(const absl::Status& last_error)>;

  ListenerCheck(Probe probe, absl::Duration interval, int failures_allowed, OnDead on_dead);
  ~ListenerCheck() ABSL_LOCKS_EXCLUDED(mu_);
  ListenerCheck(const ListenerCheck&) = delete;
  ListenerCheck& operator=(const ListenerCheck&) = delete;

  // Probes made so far, and how many of them failed.
  int64_t probes() const ABSL_LOCKS_EXCLUDED(mu_);
  int64_t failed_probes() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Run() ABSL_LOCKS_EXCLUDED(mu_);

  const Probe probe_;
  const absl::Duration interval_;
  const int failures_allowed_;
  const OnDead on_dead_;

  mutable absl::Mutex mu_;
  // State below is protected by mu_.
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  int64_t probes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t failed_probes_ ABSL_GUARDED_BY(mu_) = 0;

  std::thread thread_;  // last: starts after everything above exists
};

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_LISTENER_CHECK_H_
