#ifndef SEMAPHORED_SERVER_SERVER_TELEMETRY_H_
#define SEMAPHORED_SERVER_SERVER_TELEMETRY_H_

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/types.h"
#include "engine/core_listener.h"
#include "server/observability/logger.h"
#include "server/observability/metrics.h"
#include "server/service/call_observer.h"

namespace semaphored::server {

// The server's one listener: told by the core (as its CoreListener) and by the gRPC
// services (as their CallObserver), it updates the Metrics and writes the session
// log lines:
//   session_start  on every CreateSession
//   session_end    on every session end, whatever the reason (closed, expired --
//                  unary-only sessions included --, admin, stream_ended, drain)
//
// Thread-safe. The core's "locked" callbacks only touch Metrics' lock-free counters;
// OnSessionEnded (called without the core's lock) writes a log line.
class ServerTelemetry final : public engine::CoreListener, public CallObserver {
 public:
  // Both must outlive the observer.
  ServerTelemetry(Metrics* metrics, const Logger* logger)
      : metrics_(metrics), logger_(logger) {}

  // --- CoreListener ---
  void OnGrant(absl::Duration waited) override { metrics_->OnGrant(waited); }
  void OnRelease(absl::Duration held) override { metrics_->OnRelease(held); }
  void OnWaitTimeout() override { metrics_->OnWaitTimeout(); }
  void OnForceClear() override { metrics_->OnForceClear(); }
  void OnBatchCommitted(size_t effects, size_t answers, absl::Duration took) override {
    metrics_->OnBatchCommitted(effects, answers, took);
  }
  void OnSessionEnded(const engine::SessionEnd& end) override;

  // --- CallObserver ---
  void OnRequest(absl::string_view method) override { metrics_->RecordRequest(method); }
  void OnError(absl::StatusCode code) override { metrics_->RecordRejected(code); }
  void OnSessionCreated(const engine::NewSession& session, absl::string_view client_name,
                        absl::string_view peer) override;

 private:
  Metrics* const metrics_;
  const Logger* const logger_;
};

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_SERVER_TELEMETRY_H_
