// SessionImpl: global names, over the session stream; keepalives.

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cancel.h"
#include "convert.h"
#include "errors_internal.h"
#include "session_impl.h"
#include "wait.h"

namespace semaphored::internal {

namespace v1 = ::semaphored::v1;

void SessionImpl::SendLocked(v1::SessionCommand command, std::shared_ptr<Call> call,
                             bool defer) {
  const uint64_t id = ++last_command_id_;
  command.set_command_id(id);
  pending_.emplace(id, std::move(call));
  if (defer) {
    stream_->Defer(std::move(command));
  } else {
    stream_->Send(std::move(command));
  }
}

absl::Status SessionImpl::Roundtrip(v1::SessionCommand command,
                                    const std::shared_ptr<Call>& call,
                                    const std::shared_ptr<CancelToken>& cancel) {
  uint64_t command_id;
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status s = GlobalUsableLocked(call->name); !s.ok()) return s;
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

void SessionImpl::CancelCommand(uint64_t command_id) {
  absl::MutexLock lock(&mu_);
  if (!pending_.contains(command_id) || !GlobalUsableLocked("").ok()) return;
  // The target is answered CANCELLED; the cancel's own answer needs no waiter
  // (answers to unknown ids are dropped).
  v1::SessionCommand command;
  command.set_command_id(++last_command_id_);
  command.mutable_cancel()->set_target_command_id(command_id);
  stream_->Send(std::move(command));
}

absl::StatusOr<SetAnswer> SessionImpl::GlobalSet(absl::string_view name,
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
    *set->mutable_timeout() = DurationToProto(options.timeout);
  }
  auto call = std::make_shared<Call>(Call::Kind::kSet, std::string(name));
  call->for_permit = for_permit;
  if (absl::Status s = Roundtrip(std::move(command), call, options.cancel); !s.ok()) {
    return s;
  }
  SetAnswer answer;
  const v1::SetSemaphoreResponse& response = call->event.set();
  answer.acquired = response.acquired();
  answer.already_held = response.already_held();
  answer.grant = std::move(call->grant);
  if (!answer.acquired) answer.state = InfoFromProto(response.state(), name);
  return answer;
}

absl::Status SessionImpl::GlobalClear(absl::string_view name) {
  v1::SessionCommand command;
  command.mutable_clear()->set_name(std::string(name));
  auto call = std::make_shared<Call>(Call::Kind::kClear, std::string(name));
  return Roundtrip(std::move(command), call, nullptr);
}

absl::StatusOr<SemaphoreInfo> SessionImpl::GlobalTest(absl::string_view name) {
  v1::SessionCommand command;
  command.mutable_test()->set_name(std::string(name));
  auto call = std::make_shared<Call>(Call::Kind::kTest, std::string(name));
  if (absl::Status s = Roundtrip(std::move(command), call, nullptr); !s.ok()) return s;
  return InfoFromProto(call->event.test().state(), name);
}

absl::StatusOr<bool> SessionImpl::GlobalWaitClear(absl::string_view name,
                                                  absl::Duration timeout,
                                                  std::shared_ptr<CancelToken> cancel) {
  v1::SessionCommand command;
  v1::WaitSemaphoreClearRequest* wait = command.mutable_wait_clear();
  wait->set_name(std::string(name));
  if (timeout == absl::InfiniteDuration()) {
    wait->set_wait_indefinitely(true);
  } else if (timeout != absl::ZeroDuration()) {  // the server checks it
    *wait->mutable_timeout() = DurationToProto(timeout);
  }
  auto call = std::make_shared<Call>(Call::Kind::kWaitClear, std::string(name));
  if (absl::Status s = Roundtrip(std::move(command), call, cancel); !s.ok()) return s;
  return call->event.wait_clear().clear();
}

void SessionImpl::ScheduleKeepalive(absl::Duration after) {
  keepalive_timer_ = connection_->timers().Schedule(
      absl::Now() + after, [weak = weak_from_this()] {
        if (auto self = weak.lock()) self->Keepalive();
      });
}

// Sends a refresh every ttl/3. If nothing at all was heard from the server for over
// a TTL, the session is presumed lost -- but only at the next check (at most a
// second later), so that answers already on their way (for example after the process
// was stopped for a while) are read first and report the server's own reason.
void SessionImpl::Keepalive() {
  Followups followups;
  {
    absl::MutexLock lock(&mu_);
    if (!GlobalUsableLocked("").ok()) return;
    const absl::Duration interval = ttl_ / 3;
    absl::Duration next = interval;
    if (absl::Now() - last_heard_ > ttl_) {
      if (suspect_) {
        LoseLocked(absl::UnavailableError(absl::StrCat(
                       "no answer from server ", connection_->options().address,
                       " for over the session TTL (", absl::FormatDuration(ttl_),
                       "); session ", id_, " is presumed expired")),
                   followups);
      } else {
        suspect_ = true;
        next = std::min(interval, absl::Seconds(1));
      }
    } else {
      suspect_ = false;
    }
    if (lost_.ok()) {
      v1::SessionCommand refresh;
      refresh.mutable_refresh();
      SendLocked(std::move(refresh), std::make_shared<Call>(Call::Kind::kRefresh));
      ScheduleKeepalive(next);
    }
  }
  RunFollowups(followups);
}

}  // namespace semaphored::internal
