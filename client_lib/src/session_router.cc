// SessionRouter: opens a session's two backends, hands each call to one of them by
// its name, and closes both.

#include "session_router.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "errors_internal.h"

namespace semaphored::internal {

SessionRouter::SessionRouter(std::shared_ptr<Connection> connection,
                             SessionOptions options, std::string client_name)
    : connection_(std::move(connection)),
      options_(std::move(options)),
      client_name_(std::move(client_name)),
      gate_(std::make_shared<CallbackGate>()) {}

SessionRouter::~SessionRouter() = default;

absl::StatusOr<std::shared_ptr<SessionRouter>> SessionRouter::Open(
    std::shared_ptr<Connection> connection, SessionOptions options) {
  std::string client_name = options.client_name.empty()
                                ? connection->options().client_name
                                : options.client_name;
  if (client_name.empty()) client_name = DefaultClientName();
  if (absl::Status s = ValidateClientName(client_name); !s.ok()) return s;
  std::shared_ptr<SessionRouter> session(new SessionRouter(
      std::move(connection), std::move(options), std::move(client_name)));

  absl::StatusOr<std::shared_ptr<LocalSession>> local =
      LocalSession::Open(session->connection_->local(), session->client_name_,
                         session->options_.ttl);
  if (!local.ok()) return local.status();
  session->local_ = *std::move(local);
  session->id_ = session->local_->local_id();
  if (session->connection_->stub() != nullptr) {
    absl::StatusOr<std::shared_ptr<RemoteSession>> remote = RemoteSession::Open(
        session->connection_, session->options_, session->client_name_, session->gate_);
    if (!remote.ok()) {
      session->gate_->Close();
      session->local_->BeginClose();
      session->local_->FinishClose().IgnoreError();
      return remote.status();
    }
    session->remote_ = *std::move(remote);
    session->id_ = session->remote_->id();
    session->ttl_ = session->remote_->ttl();
  }
  session->local_->set_public_id(session->id_);
  return session;
}

SessionBackend* SessionRouter::BackendFor(absl::string_view name) const {
  if (IsLocalName(name)) return local_.get();
  return remote_.get();
}

absl::Status SessionRouter::NoBackendError(absl::string_view name) const {
  if (absl::Status s = local_->status(); !s.ok()) return s;  // closed
  return NoServerError(name);
}

absl::StatusOr<GrantOrState> SessionRouter::Set(absl::string_view name,
                                                const AcquireOptions& options,
                                                bool for_permit) {
  if (absl::Status s = ValidateName(name); !s.ok()) return s;
  SessionBackend* backend = BackendFor(name);
  if (backend == nullptr) return NoBackendError(name);
  return backend->Set(name, options, for_permit);
}

absl::Status SessionRouter::Clear(absl::string_view name) {
  if (absl::Status s = ValidateName(name); !s.ok()) return s;
  SessionBackend* backend = BackendFor(name);
  if (backend == nullptr) return NoBackendError(name);
  return backend->Clear(name);
}

absl::StatusOr<SemaphoreInfo> SessionRouter::Test(absl::string_view name) {
  if (absl::Status s = ValidateName(name); !s.ok()) return s;
  SessionBackend* backend = BackendFor(name);
  if (backend == nullptr) return NoBackendError(name);
  return backend->Test(name);
}

absl::StatusOr<bool> SessionRouter::WaitClear(absl::string_view name,
                                              absl::Duration timeout,
                                              std::shared_ptr<CancelToken> cancel) {
  if (absl::Status s = ValidateName(name); !s.ok()) return s;
  SessionBackend* backend = BackendFor(name);
  if (backend == nullptr) return NoBackendError(name);
  return backend->WaitClear(name, timeout, std::move(cancel));
}

absl::Status SessionRouter::status() const {
  // Closing starts both backends at once, so either tells "closed"; only the remote
  // one can be lost.
  if (remote_ != nullptr) return remote_->status();
  return local_->status();
}

// Both backends stop taking calls before either is waited for: a call on a '$' name
// fails as closed while the server's close answer is on its way, as one on a global
// name does.
absl::Status SessionRouter::Close() {
  absl::MutexLock close_lock(&close_mu_);
  if (close_done_) return close_result_;
  if (remote_ != nullptr) remote_->BeginClose();
  local_->BeginClose();
  absl::Status result;
  if (remote_ != nullptr) result = remote_->FinishClose();
  local_->FinishClose().IgnoreError();  // always OK
  gate_->Close();
  close_done_ = true;
  close_result_ = result;
  return result;
}

}  // namespace semaphored::internal
