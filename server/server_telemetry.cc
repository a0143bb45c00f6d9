// ServerTelemetry: turns engine and call events into metrics and session logs.

#include "server/server_telemetry.h"

#include "server/observability/server_events.h"

namespace semaphored::server {

using engine::NewSession;
using engine::SessionEnd;

void ServerTelemetry::OnSessionEnded(const SessionEnd& end) {
  metrics_->OnSessionEnded(end);
  LogSessionEnd(*logger_, end.id, end.client_name, end.reason, end.released);
}

void ServerTelemetry::OnSessionCreated(const NewSession& session,
                                      absl::string_view client_name,
                                      absl::string_view peer) {
  metrics_->RecordSessionCreated();
  LogSessionStart(*logger_, session.id, client_name, peer, session.ttl);
}

}  // namespace semaphored::server
