// RemoteSession: answers and pushes from the session stream, applied in stream order.

#include "remote_session.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/wire_status.h"
#include "convert.h"
#include "errors_internal.h"
#include "semaphored/errors.h"

namespace semaphored::internal {

namespace v1 = ::semaphored::v1;

void RemoteSession::OnEvents(uint64_t generation, v1::StreamSessionResponse& response) {
  Followups followups;
  {
    absl::MutexLock lock(&mu_);
    if (generation != generation_) return;
    last_heard_ = absl::Now();
    for (v1::SessionEvent& event : *response.mutable_events()) {
      HandleEventLocked(event, followups);
    }
  }
  RunFollowups(followups);
}

void RemoteSession::OnClosed(uint64_t generation, const absl::Status& status) {
  Followups followups;
  {
    absl::MutexLock lock(&mu_);
    if (generation != generation_ || closed_ || !lost_.ok()) return;
    ended_generation_ = generation;
    if (status.code() == absl::StatusCode::kUnauthenticated) {
      // The server says the session is gone.
      if (ClosingLocked()) {
        EndCloseLocked(generation, status);
      } else {
        LoseLocked(status, followups);
      }
    } else if (!opened_) {
      // The session never worked: Open reports this error.
      LoseLocked(absl::UnavailableError(absl::StrCat(
                     "lost the connection to server ", connection_->options().address,
                     " (", status.ToString(), ") opening session ", id_)),
                 followups);
    } else if (!ClosingLocked() || !pending_.empty()) {
      // The session may well be alive (the server restarted, or the network broke):
      // resume it. (Closing with nothing pending: the close was answered.)
      InterruptLocked(status, followups);
    }
  }
  RunFollowups(followups);
}

// The server refused a resumed stream of a closing session: it no longer knows the
// session. A close written to an earlier stream may have been applied there before
// the server restarted (its answer lost with the connection): the session is ended,
// which is what the close asked for. A close never written before finds the session
// already gone: it reports that, as a lost session.
void RemoteSession::EndCloseLocked(uint64_t generation, const absl::Status& status) {
  for (auto it = pending_.begin(); it != pending_.end(); ++it) {
    std::shared_ptr<Call> call = it->second;
    if (call->kind != Call::Kind::kClose) continue;
    pending_.erase(it);
    const bool maybe_applied = call->first_stream != 0 && call->first_stream < generation;
    call->status = maybe_applied ? absl::OkStatus() : SessionLostError(status);
    call->done.Notify();
    return;
  }
}

void RemoteSession::HandleEventLocked(v1::SessionEvent& event, Followups& followups) {
  if (event.command_id() == 0) {
    if (event.has_session_ended()) {
      const v1::SessionEndedEvent& ended = event.session_ended();
      absl::Status why = StatusFromCode(ended.code(), ended.reason());
      if (why.ok()) why = absl::UnauthenticatedError(ended.reason());
      LoseLocked(std::move(why), followups);
    } else if (event.has_revoked()) {
      RevokeLocked(event.revoked(), followups);
    }
    return;
  }
  auto it = pending_.find(event.command_id());
  if (it == pending_.end()) return;  // e.g. the answer to a cancel command
  std::shared_ptr<Call> call = it->second;
  // UNAVAILABLE for a numbered command or a close (a server draining to restart with
  // its state) is not its answer: the server applied nothing, and Reconnect sends it
  // again.
  if ((call->seq != 0 || call->kind == Call::Kind::kClose) && event.has_error() &&
      event.error().code() == static_cast<int>(absl::StatusCode::kUnavailable)) {
    return;
  }
  pending_.erase(it);
  if (call->seq != 0 && stream_ != nullptr) stream_->Acknowledge(call->seq);
  CompleteLocked(*call, event, followups);
}

void RemoteSession::CompleteLocked(Call& call, v1::SessionEvent& event,
                                 Followups& followups) {
  absl::Status status;
  if (event.has_error()) {
    status = StatusFromCode(event.error().code(), event.error().message());
    if (status.code() == absl::StatusCode::kUnauthenticated) {
      if (ClosingLocked()) {
        status = SessionClosedError(id_);
      } else {
        // The server no longer knows the session: it is lost, for this call too.
        LoseLocked(status, followups);
        status = lost_;
      }
    }
  }
  switch (call.kind) {
    case Call::Kind::kSet:
      if (status.ok()) ApplySetLocked(call, event.set());
      break;
    case Call::Kind::kClear:
      if (status.ok()) {
        auto it = grants_.find(call.name);
        if (it != grants_.end()) {
          it->second->EndReleased();
          grants_.erase(it);
        }
      }
      break;
    case Call::Kind::kRelease:
      ReleaseAnsweredLocked(call, status, followups);
      break;
    case Call::Kind::kRefresh:
      if (call.resume && status.ok() && interrupted_) {
        interrupted_ = false;
        if (options_.on_session_resumed) {
          followups.callbacks.push_back(
              [callback = options_.on_session_resumed] { callback(); });
        }
      }
      break;
    case Call::Kind::kTest:
    case Call::Kind::kWaitClear:
    case Call::Kind::kClose:
      break;
  }
  call.status = std::move(status);
  call.event = std::move(event);
  call.done.Notify();
}

void RemoteSession::ApplySetLocked(Call& call, const v1::SetSemaphoreResponse& set) {
  if (!set.acquired()) return;
  std::shared_ptr<GrantState>& grant = grants_[call.name];
  // Already held: the new Permit shares the grant the session has (even one whose
  // release is on its way: the server holds it until that release arrives, and the
  // Permit reports it ended).
  if (grant == nullptr || !set.already_held()) {
    // A fresh grant replaces any record of an older one (which then cannot be held).
    if (grant != nullptr) grant->EndReleased();
    grant = std::make_shared<GrantState>(
        call.name, set.grant().fencing_token(), set.grant().permits(),
        FromProtoTimestamp(set.grant().grant_time()), weak_from_this());
  }
  if (call.for_permit) {
    grant->AddPermit();
  } else {
    grant->Pin();
  }
  call.grant = grant;
}

void RemoteSession::ReleaseAnsweredLocked(Call& call, const absl::Status& status,
                                        Followups& followups) {
  auto it = grants_.find(call.name);
  if (it != grants_.end() && it->second == call.release) grants_.erase(it);
  if (status.ok() || !call.report_async) return;
  // Not held any more, which is what the release wanted: revoked (reported by
  // on_revoked) or lost/closed (reported otherwise).
  if (status.code() == absl::StatusCode::kNotFound ||
      status.code() == absl::StatusCode::kPermissionDenied || IsSessionLost(status) ||
      ClosingLocked()) {
    return;
  }
  ReportReleaseErrorLocked(call.name, status, followups);
}

void RemoteSession::ReportReleaseErrorLocked(const std::string& name, absl::Status error,
                                           Followups& followups) {
  if (options_.on_release_error) {
    followups.callbacks.push_back(
        [callback = options_.on_release_error, name, error] { callback(name, error); });
  } else if (release_error_.ok()) {
    release_error_ = absl::Status(
        error.code(), absl::StrCat("releasing ", name, ": ", error.message()));
  }
}

void RemoteSession::RevokeLocked(const v1::SemaphoreRevokedEvent& revoked,
                               Followups& followups) {
  auto it = grants_.find(revoked.name());
  if (it == grants_.end()) return;
  std::shared_ptr<GrantState> grant = it->second;
  if (revoked.fencing_token() != 0 && grant->fencing_token != revoked.fencing_token()) {
    return;  // an older grant than the one held now
  }
  grants_.erase(it);
  absl::Status why = RevokedError(revoked.name(), revoked.reason());
  if (!grant->End(why)) return;  // already released by the application
  if (options_.on_revoked) {
    followups.callbacks.push_back(
        [callback = options_.on_revoked, name = revoked.name(), why] {
          callback(name, why);
        });
  }
}

void RemoteSession::LoseLocked(absl::Status why, Followups& followups) {
  if (ClosingLocked() || !lost_.ok()) return;
  lost_ = SessionLostError(std::move(why));
  for (auto& [id, call] : pending_) {
    call->status = lost_;
    call->done.Notify();
  }
  pending_.clear();
  // The grants are gone with the session (those of '$' names stay: they are the
  // LocalSession's).
  for (auto& [name, grant] : grants_) grant->End(lost_);
  grants_.clear();
  connection_->timers().Cancel(keepalive_timer_);
  connection_->timers().Cancel(reconnect_timer_);
  followups.cancel_stream = true;
  if (options_.on_session_lost) {
    followups.callbacks.push_back(
        [callback = options_.on_session_lost, why = lost_] { callback(why); });
  }
}

}  // namespace semaphored::internal
