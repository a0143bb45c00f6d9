// RemoteSession: a session's global names on the server -- opening, commands over
// the session stream, keepalives, releases and closing.

#include "remote_session.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cancel_registration.h"
#include "common/proto_time.h"
#include "convert.h"
#include "errors_internal.h"
#include "leader_stub.h"
#include "wait.h"

namespace semaphored::internal {

namespace v1 = ::semaphored::v1;

namespace {

// Reconnect backoff: doubles from the first to the last, with up to 25% jitter.
constexpr absl::Duration kFirstBackoff = absl::Milliseconds(50);
constexpr absl::Duration kMaxBackoff = absl::Seconds(1);
// After a standby's answer (servers on etcd): it is reachable and a leader is named or
// being elected, so the backoff meant for servers out of reach starts over and the
// next try comes soon: a session finds a new leader within about this of its takeover.
constexpr absl::Duration kStandbyRetry = absl::Milliseconds(100);
// How long a release nobody waits for may wait for the session's next command.
constexpr absl::Duration kReleaseFlushDelay = absl::Microseconds(300);

// Whether `command` is numbered (applied at most once): the commands that change
// the session's state or wait in a queue.
bool Numbered(const v1::SessionCommand& command) {
  return command.has_set() || command.has_clear() || command.has_wait_clear();
}

}  // namespace

// Forwards one stream's events to its session with the stream's generation. The
// session owns the current stream's Link; a stream keeps only a weak reference to it.
class RemoteSession::Link final : public ClientStreamObserver {
 public:
  Link(std::weak_ptr<RemoteSession> session, uint64_t generation)
      : session_(std::move(session)), generation_(generation) {}
  void OnEvents(v1::StreamSessionResponse& response) override {
    if (auto session = session_.lock()) session->OnEvents(generation_, response);
  }
  void OnClosed(const absl::Status& status) override {
    if (auto session = session_.lock()) session->OnClosed(generation_, status);
  }

 private:
  const std::weak_ptr<RemoteSession> session_;
  const uint64_t generation_;
};

RemoteSession::RemoteSession(std::shared_ptr<Connection> connection,
                             const SessionOptions& options,
                             std::shared_ptr<CallbackGate> gate)
    : connection_(std::move(connection)), options_(options), gate_(std::move(gate)) {}

RemoteSession::~RemoteSession() = default;

absl::StatusOr<std::shared_ptr<RemoteSession>> RemoteSession::Open(
    std::shared_ptr<Connection> connection, const SessionOptions& options,
    const std::string& client_name, std::shared_ptr<CallbackGate> gate) {
  std::shared_ptr<RemoteSession> session(
      new RemoteSession(std::move(connection), options, std::move(gate)));
  if (absl::Status s = session->OpenStream(client_name); !s.ok()) return s;
  return session;
}

absl::Status RemoteSession::OpenStream(const std::string& client_name) {
  v1::CreateSessionRequest request;
  request.set_client_name(client_name);
  if (options_.ttl > absl::ZeroDuration()) {
    *request.mutable_ttl() = ToProtoDuration(options_.ttl);
  }
  absl::StatusOr<v1::CreateSessionResponse> created =
      connection_->stub()->CreateSession(request, connection_->options().call_timeout);
  if (!created.ok()) {
    if (created.status().code() != absl::StatusCode::kUnavailable) {
      return created.status();
    }
    return absl::UnavailableError(absl::StrCat("server ", connection_->options().address,
                                               ": ", created.status().message()));
  }
  id_ = created->session_id();
  ttl_ = FromProtoDuration(created->ttl(), "ttl").value_or(absl::ZeroDuration());
  if (ttl_ <= absl::ZeroDuration()) ttl_ = absl::Seconds(10);  // a server bug; be safe

  // The first message tells the server which session the stream serves; a refresh
  // is the cheapest command to carry it. Its answer proves the stream works, so that
  // a session that cannot be used fails here rather than on its first call.
  auto first = std::make_shared<Call>(Call::Kind::kRefresh);
  {
    absl::MutexLock lock(&mu_);
    secret_ = created->session_secret();
    last_heard_ = absl::Now();
  }
  const bool opened = OpenNextStream([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    v1::SessionCommand refresh;
    refresh.mutable_refresh();
    SendLocked(std::move(refresh), first);
    ScheduleKeepalive(ttl_ / 3);
  });
  const absl::Duration timeout = connection_->options().call_timeout;
  absl::Status status;
  if (!opened) {
    absl::MutexLock lock(&mu_);
    status = !lost_.ok() ? lost_
                         : absl::UnavailableError(absl::StrCat(
                               "the stream of new session ", id_, " to server ",
                               connection_->options().address, " ended at once"));
  } else if (!first->done.WaitForNotificationWithTimeout(timeout)) {
    status = absl::DeadlineExceededError(absl::StrCat(
        "no answer from server ", connection_->options().address, " within ",
        absl::FormatDuration(timeout), " on the stream of new session ", id_));
  } else {
    status = first->status;
  }
  if (!status.ok()) {
    BeginClose();
    FinishClose().IgnoreError();
    // The caller never had this session: its error is not a "lost session" one.
    return absl::Status(status.code(), status.message());
  }
  absl::MutexLock lock(&mu_);
  opened_ = true;
  return absl::OkStatus();
}

bool RemoteSession::OpenNextStream(absl::FunctionRef<void()> then) {
  std::shared_ptr<Link> link;
  std::string secret;
  uint64_t generation;
  {
    absl::MutexLock lock(&mu_);
    generation = ++generation_;
    link = std::make_shared<Link>(weak_from_this(), generation);
    link_ = link;
    secret = secret_;
  }
  std::shared_ptr<ClientStream> stream = connection_->stub()->OpenStream(
      std::move(secret), std::weak_ptr<ClientStreamObserver>(link));
  {
    absl::MutexLock lock(&mu_);
    if (generation == generation_ && ended_generation_ != generation && !closed_ &&
        lost_.ok()) {
      stream_ = std::move(stream);
      then();
      return true;
    }
  }
  stream->Cancel();
  return false;
}

absl::Status RemoteSession::status() const {
  absl::MutexLock lock(&mu_);
  if (ClosingLocked()) return SessionClosedError(id_);
  return lost_;
}

absl::Status RemoteSession::UsableLocked() const {
  if (ClosingLocked()) return SessionClosedError(id_);
  return lost_;
}

void RemoteSession::SendLocked(v1::SessionCommand command, std::shared_ptr<Call> call,
                               bool defer) {
  const uint64_t id = ++last_command_id_;
  command.set_command_id(id);
  if (Numbered(command)) {
    command.set_seq(++last_seq_);
    call->seq = last_seq_;
  }
  call->command = command;  // to send again if the stream breaks before the answer
  if (stream_ == nullptr) {  // interrupted: sent by Reconnect
    pending_.emplace(id, std::move(call));
    return;
  }
  call->first_stream = generation_;
  pending_.emplace(id, std::move(call));
  if (defer) {
    stream_->Defer(std::move(command));
  } else {
    stream_->Send(std::move(command));
  }
}

absl::Status RemoteSession::Roundtrip(v1::SessionCommand command,
                                      const std::shared_ptr<Call>& call,
                                      const std::shared_ptr<CancelToken>& cancel) {
  uint64_t command_id;
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status s = UsableLocked(); !s.ok()) return s;
    if (cancel != nullptr && cancel->cancelled()) {
      return absl::CancelledError("the call was cancelled before it was sent");
    }
    SendLocked(std::move(command), call);
    command_id = last_command_id_;
  }
  {
    CancelRegistration registration(
        cancel, [weak = weak_from_this(), command_id] {
          if (auto self = weak.lock()) self->CancelCommand(command_id);
        });
    if (registration.already_cancelled()) CancelCommand(command_id);
    AwaitAnswer(call->done);
  }
  return call->status;
}

void RemoteSession::CancelCommand(uint64_t command_id) {
  absl::MutexLock lock(&mu_);
  auto it = pending_.find(command_id);
  if (it == pending_.end() || !UsableLocked().ok()) return;
  // Sent again after the target on every resume until the target is answered: the
  // stream may break before the server reads this cancel.
  it->second->cancel_asked = true;
  if (stream_ == nullptr) return;  // interrupted: sent with the resume
  // The target is answered CANCELLED; the cancel's own answer needs no waiter
  // (answers to unknown ids are dropped).
  v1::SessionCommand command;
  command.set_command_id(++last_command_id_);
  command.mutable_cancel()->set_target_command_id(command_id);
  stream_->Send(std::move(command));
}

absl::StatusOr<GrantOrState> RemoteSession::Set(absl::string_view name,
                                                const AcquireOptions& options,
                                                bool for_permit) {
  v1::SessionCommand command;
  v1::SetSemaphoreRequest* set = command.mutable_set();
  set->set_name(std::string(name));
  if (options.limit.has_value()) set->set_limit(*options.limit);
  set->set_permits(options.permits);
  if (options.timeout == absl::InfiniteDuration()) {
    set->set_wait_indefinitely(true);
  } else if (options.timeout != absl::ZeroDuration()) {  // the server checks it
    *set->mutable_timeout() = ToProtoDuration(options.timeout);
  }
  auto call = std::make_shared<Call>(Call::Kind::kSet, std::string(name));
  call->for_permit = for_permit;
  if (absl::Status s = Roundtrip(std::move(command), call, options.cancel); !s.ok()) {
    return s;
  }
  GrantOrState answer;
  const v1::SetSemaphoreResponse& response = call->event.set();
  answer.acquired = response.acquired();
  answer.already_held = response.already_held();
  answer.grant = std::move(call->grant);
  if (!answer.acquired) answer.state = InfoFromProto(response.state(), name);
  return answer;
}

absl::Status RemoteSession::Clear(absl::string_view name) {
  v1::SessionCommand command;
  command.mutable_clear()->set_name(std::string(name));
  auto call = std::make_shared<Call>(Call::Kind::kClear, std::string(name));
  return Roundtrip(std::move(command), call, nullptr);
}

absl::StatusOr<SemaphoreInfo> RemoteSession::Test(absl::string_view name) {
  v1::SessionCommand command;
  command.mutable_test()->set_name(std::string(name));
  auto call = std::make_shared<Call>(Call::Kind::kTest, std::string(name));
  if (absl::Status s = Roundtrip(std::move(command), call, nullptr); !s.ok()) return s;
  return InfoFromProto(call->event.test().state(), name);
}

absl::StatusOr<bool> RemoteSession::WaitClear(absl::string_view name,
                                              absl::Duration timeout,
                                              std::shared_ptr<CancelToken> cancel) {
  v1::SessionCommand command;
  v1::WaitSemaphoreClearRequest* wait = command.mutable_wait_clear();
  wait->set_name(std::string(name));
  if (timeout == absl::InfiniteDuration()) {
    wait->set_wait_indefinitely(true);
  } else if (timeout != absl::ZeroDuration()) {  // the server checks it
    *wait->mutable_timeout() = ToProtoDuration(timeout);
  }
  auto call = std::make_shared<Call>(Call::Kind::kWaitClear, std::string(name));
  if (absl::Status s = Roundtrip(std::move(command), call, cancel); !s.ok()) return s;
  return call->event.wait_clear().clear();
}

// The release nobody waits for is deferred: when the session's next command follows
// within kReleaseFlushDelay (as in acquire/release loops), both travel in one message,
// which a durable server commits in one batch (the set's answer waits for one commit,
// not two); otherwise the timer thread flushes it then. Measured (3 runs each, same
// machine and build, bench --workloads=floor,w1,w3 --stores=memory,sqlite): W1 sqlite
// pair p50 527-759 us with the delay, 802-981 us flushing at once; W3 handoffs/s not
// lower (sqlite 1,037-1,213 vs 981-1,009; memory 4,882-7,198 vs 4,222-6,612).
void RemoteSession::DropPermit(const std::shared_ptr<GrantState>& grant) {
  std::shared_ptr<ClientStream> stream;
  {
    absl::MutexLock lock(&mu_);
    if (grant->DropPermit() > 0 || grant->pinned() || !grant->held()) return;
    grant->EndReleased();
    // Closing or lost: everything is released anyway.
    if (!UsableLocked().ok()) return;
    auto call = std::make_shared<Call>(Call::Kind::kRelease, grant->name);
    call->release = grant;
    call->report_async = true;
    v1::SessionCommand command;
    command.mutable_clear()->set_name(grant->name);
    SendLocked(std::move(command), std::move(call), /*defer=*/true);
    stream = stream_;
  }
  if (stream == nullptr) return;  // interrupted: Reconnect sends it
  connection_->timers().Schedule(absl::Now() + kReleaseFlushDelay,
                                 [stream = std::move(stream)] { stream->Flush(); });
}

absl::Status RemoteSession::ReleaseGrant(const std::shared_ptr<GrantState>& grant) {
  auto call = std::make_shared<Call>(Call::Kind::kRelease, grant->name);
  {
    absl::MutexLock lock(&mu_);
    if (!grant->held()) return grant->status();
    if (absl::Status s = UsableLocked(); !s.ok()) return s;
    grant->EndReleased();
    call->release = grant;
    v1::SessionCommand command;
    command.mutable_clear()->set_name(grant->name);
    SendLocked(std::move(command), call);
  }
  call->done.WaitForNotification();
  return call->status;
}

void RemoteSession::BeginClose() {
  absl::MutexLock lock(&mu_);
  if (ClosingLocked()) return;
  if (lost_.ok()) {
    close_call_ = std::make_shared<Call>(Call::Kind::kClose);
    v1::SessionCommand command;
    command.mutable_close();
    SendLocked(std::move(command), close_call_);
  }
  closing_ = true;  // after sending: from now on nothing else is sent
  connection_->timers().Cancel(keepalive_timer_);
}

absl::Status RemoteSession::FinishClose() {
  const absl::Duration timeout = connection_->options().call_timeout;
  std::shared_ptr<ClientStream> stream;
  std::shared_ptr<Call> call;
  absl::Status result;
  {
    absl::MutexLock lock(&mu_);
    stream = stream_;
    call = std::move(close_call_);
    result = lost_;
  }
  if (call != nullptr) {
    if (!call->done.WaitForNotificationWithTimeout(timeout)) {
      result = absl::DeadlineExceededError(absl::StrCat(
          "no answer from the server within ", absl::FormatDuration(timeout),
          " to closing session ", id_, "; it ends when its TTL runs out"));
    } else if (!call->status.ok()) {
      result = call->status;
    }
  }
  if (stream != nullptr) {
    // The server ends the stream after the close answer; otherwise cut it (which also
    // ends the session on the server).
    stream->Finish();
    if (!stream->WaitClosed(timeout)) {
      stream->Cancel();
      stream->WaitClosed(timeout);
    }
  }
  std::vector<std::shared_ptr<Call>> unanswered;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    connection_->timers().Cancel(reconnect_timer_);
    for (auto& [id, pending] : pending_) unanswered.push_back(std::move(pending));
    pending_.clear();
    for (auto& [name, grant] : grants_) grant->End(SessionClosedError(id_));
    grants_.clear();
    if (result.ok()) result = release_error_;
  }
  for (auto& pending : unanswered) {
    pending->status = SessionClosedError(id_);
    pending->done.Notify();
  }
  return result;
}

void RemoteSession::ScheduleKeepalive(absl::Duration after) {
  keepalive_timer_ = connection_->timers().Schedule(
      absl::Now() + after, [weak = weak_from_this()] {
        if (auto self = weak.lock()) self->Keepalive();
      });
}

// Sends a refresh every ttl/3 (not while interrupted: Reconnect's refresh does). If
// nothing at all was heard from the server for over a TTL, the session is presumed
// lost -- but only at the next check (at most a second later), so that answers
// already on their way (for example after the process was stopped for a while) are
// read first and report the server's own reason.
void RemoteSession::Keepalive() {
  Followups followups;
  {
    absl::MutexLock lock(&mu_);
    if (!UsableLocked().ok()) return;
    const absl::Duration interval = ttl_ / 3;
    absl::Duration next = interval;
    if (absl::Now() - last_heard_ > ttl_) {
      if (suspect_) {
        LoseIfSilentLocked("", followups);
      } else {
        suspect_ = true;
        next = std::min(interval, absl::Seconds(1));
      }
    } else {
      suspect_ = false;
    }
    if (lost_.ok()) {
      if (stream_ != nullptr) {
        v1::SessionCommand refresh;
        refresh.mutable_refresh();
        SendLocked(std::move(refresh), std::make_shared<Call>(Call::Kind::kRefresh));
      }
      ScheduleKeepalive(next);
    }
  }
  RunFollowups(followups);
}

bool RemoteSession::LoseIfSilentLocked(absl::string_view doing, Followups& followups) {
  if (absl::Now() - last_heard_ <= ttl_) return false;
  LoseLocked(absl::UnavailableError(absl::StrCat(
                 "no answer from server ", connection_->options().address,
                 " for over the session TTL (", absl::FormatDuration(ttl_), ")", doing,
                 "; session ", id_, " is presumed expired")),
             followups);
  return true;
}

void RemoteSession::InterruptLocked(const absl::Status& status, Followups& followups) {
  stream_ = nullptr;
  if (!interrupted_) {
    interrupted_ = true;
    backoff_ = kFirstBackoff;
    if (options_.on_session_interrupted) {
      absl::Status why = absl::UnavailableError(
          absl::StrCat("lost the connection to server ", connection_->options().address,
                       " (", status.ToString(), "); resuming session ", id_));
      followups.callbacks.push_back(
          [callback = options_.on_session_interrupted, why] { callback(why); });
    }
  }
  const bool standby = IsStandbyAnswer(status);
  if (standby) backoff_ = kFirstBackoff;
  const absl::Duration base = standby ? kStandbyRetry : backoff_;
  const absl::Duration delay =
      base + absl::Microseconds(absl::ToInt64Microseconds(base) *
                                static_cast<int64_t>(generation_ % 4) / 16);
  backoff_ = std::min(backoff_ * 2, kMaxBackoff);
  reconnect_timer_ = connection_->timers().Schedule(
      absl::Now() + delay, [weak = weak_from_this()] {
        if (auto self = weak.lock()) self->Reconnect();
      });
}

void RemoteSession::Reconnect() {
  Followups followups;
  bool silent;
  {
    absl::MutexLock lock(&mu_);
    if (closed_ || !lost_.ok() || stream_ != nullptr) return;
    silent = LoseIfSilentLocked(" while resuming", followups);
  }
  if (!silent) {
    OpenNextStream([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      // The refresh goes first: its answer says whether the server knows the session.
      std::vector<std::shared_ptr<Call>> again;
      again.reserve(pending_.size());
      for (const auto& [id, call] : pending_) again.push_back(call);
      std::sort(again.begin(), again.end(),
                [](const std::shared_ptr<Call>& a, const std::shared_ptr<Call>& b) {
                  return a->command.command_id() < b->command.command_id();
                });
      auto resume = std::make_shared<Call>(Call::Kind::kRefresh);
      resume->resume = true;
      v1::SessionCommand refresh;
      refresh.mutable_refresh();
      SendLocked(std::move(refresh), resume, /*defer=*/true);
      for (const std::shared_ptr<Call>& call : again) {
        if (call->first_stream == 0) call->first_stream = generation_;
        stream_->Defer(call->command);
      }
      for (const std::shared_ptr<Call>& call : again) {
        if (!call->cancel_asked) continue;
        v1::SessionCommand cancel;
        cancel.set_command_id(++last_command_id_);
        cancel.mutable_cancel()->set_target_command_id(call->command.command_id());
        stream_->Defer(std::move(cancel));
      }
      stream_->Flush();
    });
  }
  RunFollowups(followups);
}

void RemoteSession::RunFollowups(Followups& followups) {
  if (followups.cancel_stream) {
    std::shared_ptr<ClientStream> stream;
    {
      absl::MutexLock lock(&mu_);
      stream = stream_;
    }
    if (stream != nullptr) stream->Cancel();
  }
  for (auto& callback : followups.callbacks) {
    gate_->Post(connection_->callbacks(), std::move(callback));
  }
  followups.callbacks.clear();
}

}  // namespace semaphored::internal
