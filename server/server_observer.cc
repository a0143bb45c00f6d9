#include "server/server_observer.h"

#include "server/observability/server_events.h"

namespace semaphored::internal {

using engine::NewSession;
using engine::SessionEnd;

void ServerObserver::OnSessionEnded(const SessionEnd& end) {
  metrics_->OnSessionEnded(end);
  LogSessionEnd(*logger_, end.id, end.client_name, end.reason, end.released);
}

void ServerObserver::OnSessionCreated(const NewSession& session,
                                      absl::string_view client_name,
                                      absl::string_view peer) {
  metrics_->RecordSessionCreated();
  LogSessionStart(*logger_, session.id, client_name, peer, session.ttl);
}

}  // namespace semaphored::internal
