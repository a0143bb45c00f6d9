#ifndef SEMAPHORED_TESTS_CLIENT_FAKE_STUB_H_
#define SEMAPHORED_TESTS_CLIENT_FAKE_STUB_H_

// A fake transport for the client library's unit tests: the test plays the server,
// reading the commands the library sends and answering them by hand. No network, no
// sleeps; every wait is bounded.

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client_access.h"
#include "connection.h"
#include "executor.h"
#include "gtest/gtest.h"
#include "local_core.h"
#include "semaphored/client.h"
#include "stub.h"

namespace semaphored::internal::testing {

namespace v1 = ::semaphored::v1;

// Bounds every wait of these tests: far above what a healthy run needs.
inline constexpr absl::Duration kWait = absl::Seconds(20);

// Its delivery tasks keep it alive: a task may drop the library's last reference to
// the session, and with it the stub and this stream (see Executor's destructor).
class FakeStream final : public ClientStream,
                         public std::enable_shared_from_this<FakeStream> {
 public:
  // `refresh_answer`: how refreshes are answered (OK: normally).
  FakeStream(std::string secret, std::weak_ptr<ClientStreamObserver> observer,
             absl::Status refresh_answer = absl::OkStatus())
      : secret_(std::move(secret)),
        observer_(std::move(observer)),
        refresh_answer_(std::move(refresh_answer)) {}

  // --- ClientStream (the library's side) ---
  void Send(v1::SessionCommand command) override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (ended_) return;
    const bool close = command.has_close();
    const bool refresh = command.has_refresh();
    const uint64_t id = command.command_id();
    sent_.push_back(std::move(command));
    // As the server: answer refreshes (see refresh_answer); answer close, push session_ended and end the
    // stream. From another thread, since the library calls Send with its own lock
    // held.
    if (refresh) {
      delivery_.Post([self = shared_from_this(), id] {
        v1::SessionEvent answer;
        answer.set_command_id(id);
        if (self->refresh_answer_.ok()) {
          answer.mutable_refresh();
        } else {
          answer.mutable_error()->set_code(static_cast<int>(self->refresh_answer_.code()));
          answer.mutable_error()->set_message(std::string(self->refresh_answer_.message()));
        }
        self->Answer(std::move(answer));
      });
    }
    if (close && answer_close_) {
      delivery_.Post([self = shared_from_this(), id] {
        v1::StreamSessionResponse response;
        v1::SessionEvent* answer = response.add_events();
        answer->set_command_id(id);
        answer->mutable_close()->set_released_count(0);
        self->Deliver(response);
        self->End(absl::OkStatus());
      });
    }
  }
  // The fake sends at once: the order of commands is all these tests look at.
  void Defer(v1::SessionCommand command) override { Send(std::move(command)); }
  void Flush() override {}
  void Acknowledge(uint64_t seq) override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    acked_.push_back(seq);
  }
  void Finish() override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    finished_ = true;
  }
  void Cancel() override {
    delivery_.Post(
        [self = shared_from_this()] { self->End(absl::CancelledError("cancelled by the client")); });
  }
  bool WaitClosed(absl::Duration timeout) override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&ended_), timeout);
  }

  // --- The test's side ---
  const std::string& secret() const { return secret_; }
  // Whether the fake answers a close command by itself (default true).
  void set_answer_close(bool answer) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    answer_close_ = answer;
  }
  // The next command not yet taken, waiting for it (bounded); nullopt on timeout.
  std::optional<v1::SessionCommand> Next(absl::Duration timeout = kWait)
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto has_next = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return taken_ < sent_.size();
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&has_next), timeout)) return std::nullopt;
    return sent_[taken_++];
  }
  // Every command sent so far (taken or not).
  std::vector<v1::SessionCommand> sent() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return std::vector<v1::SessionCommand>(sent_.begin(), sent_.end());
  }
  // Calls the observer's OnEvents on this thread, as the server's answers would.
  // Nothing once the stream is ending (as gRPC: OnClosed comes after the last one).
  void Deliver(v1::StreamSessionResponse response) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      if (ending_) return;
    }
    if (auto observer = observer_.lock()) observer->OnEvents(response);
  }
  void Answer(v1::SessionEvent event) {
    v1::StreamSessionResponse response;
    *response.add_events() = std::move(event);
    Deliver(std::move(response));
  }
  // Ends the stream with `status` from the fake's delivery thread.
  void EndSoon(absl::Status status) {
    delivery_.Post([self = shared_from_this(), status] { self->End(status); });
  }
  // Ends the stream with `status` (once).
  void End(absl::Status status) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      if (ending_) return;
      ending_ = true;
    }
    if (auto observer = observer_.lock()) observer->OnClosed(status);
    absl::MutexLock lock(&mu_);
    ended_ = true;
  }
  // Every seq acknowledged so far, in order.
  std::vector<uint64_t> acked() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return acked_;
  }
  bool finished() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return finished_;
  }

 private:
  const std::string secret_;
  const std::weak_ptr<ClientStreamObserver> observer_;
  const absl::Status refresh_answer_;
  mutable absl::Mutex mu_;
  std::deque<v1::SessionCommand> sent_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> acked_ ABSL_GUARDED_BY(mu_);
  size_t taken_ ABSL_GUARDED_BY(mu_) = 0;
  bool answer_close_ ABSL_GUARDED_BY(mu_) = true;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool ending_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  // Declared last: stopped first, before the state its tasks use goes away.
  Executor delivery_;
};

class FakeStub final : public Stub {
 public:
  absl::StatusOr<v1::CreateSessionResponse> CreateSession(
      const v1::CreateSessionRequest& request, absl::Duration timeout) override
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    ++create_calls_;
    if (!create_status_.ok()) return create_status_;
    v1::CreateSessionResponse response;
    response.set_session_secret("secret-" + std::to_string(create_calls_));
    response.set_session_id("00000000000000a" + std::to_string(create_calls_ % 10));
    response.mutable_ttl()->set_seconds(ttl_seconds_);  // 3600: no keepalive in a test
    last_client_name_ = request.client_name();
    return response;
  }
  absl::StatusOr<v1::TestSemaphoreResponse> TestSemaphore(
      const v1::TestSemaphoreRequest& request, absl::Duration timeout) override
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    ++test_calls_;
    if (!test_answers_.empty()) {
      absl::Status status = test_answers_.front();
      test_answers_.pop_front();
      if (!status.ok()) return status;
    }
    v1::TestSemaphoreResponse response;
    response.mutable_state()->set_name(request.name());
    return response;
  }
  absl::Status Ping(absl::Duration timeout) override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    ++ping_calls_;
    return ping_status_;
  }
  std::shared_ptr<ClientStream> OpenStream(
      std::string secret, std::weak_ptr<ClientStreamObserver> observer) override
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto stream = std::make_shared<FakeStream>(std::move(secret), std::move(observer),
                                               refresh_answer_);
    streams_.push_back(stream);
    if (!stream_failure_.ok()) {
      stream->EndSoon(stream_failure_);  // as a server that is down
    }
    return stream;
  }

  // --- The test's side ---
  void set_create_status(absl::Status s) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    create_status_ = std::move(s);
  }
  // The next TestSemaphore calls fail with these (OK: answer normally).
  // How the refreshes of streams opened from now on are answered.
  void set_refresh_answer(absl::Status s) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    refresh_answer_ = std::move(s);
  }
  // Streams opened from now on end at once with `s` (OK: they work).
  void set_stream_failure(absl::Status s) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    stream_failure_ = std::move(s);
  }
  // The TTL of sessions created from now on.
  void set_ttl_seconds(int64_t seconds) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    ttl_seconds_ = seconds;
  }
  // Waits (bounded) until `n` streams have been opened; the n-th (from 1), or null.
  std::shared_ptr<FakeStream> AwaitStream(size_t n) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto opened = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return streams_.size() >= n;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&opened), kWait)) return nullptr;
    return streams_[n - 1];
  }
  size_t stream_count() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return streams_.size();
  }
  void push_test_answer(absl::Status s) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    test_answers_.push_back(std::move(s));
  }
  void set_ping_status(absl::Status s) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    ping_status_ = std::move(s);
  }
  int create_calls() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return create_calls_;
  }
  int test_calls() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return test_calls_;
  }
  int ping_calls() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return ping_calls_;
  }
  std::string last_client_name() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return last_client_name_;
  }
  std::shared_ptr<FakeStream> last_stream() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return streams_.empty() ? nullptr : streams_.back();
  }

 private:
  mutable absl::Mutex mu_;
  absl::Status create_status_ ABSL_GUARDED_BY(mu_);
  std::deque<absl::Status> test_answers_ ABSL_GUARDED_BY(mu_);
  absl::Status ping_status_ ABSL_GUARDED_BY(mu_);
  absl::Status refresh_answer_ ABSL_GUARDED_BY(mu_);
  absl::Status stream_failure_ ABSL_GUARDED_BY(mu_);
  int64_t ttl_seconds_ ABSL_GUARDED_BY(mu_) = 3600;
  int create_calls_ ABSL_GUARDED_BY(mu_) = 0;
  int test_calls_ ABSL_GUARDED_BY(mu_) = 0;
  int ping_calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_client_name_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<FakeStream>> streams_ ABSL_GUARDED_BY(mu_);
};

// A Client over `stub` (the '$' names use the process-wide local core), retrying
// without sleeping.
inline std::unique_ptr<Client> FakeClient(std::shared_ptr<FakeStub> stub,
                                          ClientOptions options = {}) {
  if (options.address.empty()) options.address = "fake:1";
  if (options.call_timeout == ClientOptions().call_timeout) options.call_timeout = kWait;
  auto connection =
      std::make_shared<Connection>(std::move(options), std::move(stub), ProcessLocalCore());
  RetryPolicy retry;
  retry.sleep = [](absl::Duration) {};
  connection->set_retry_policy(std::move(retry));
  return ClientAccess::Make(std::move(connection));
}

// Builders of server answers.
inline v1::SessionEvent SetAcquired(uint64_t command_id, uint64_t token,
                                    bool already_held = false, int32_t permits = 1) {
  v1::SessionEvent event;
  event.set_command_id(command_id);
  v1::SetSemaphoreResponse* set = event.mutable_set();
  set->set_acquired(true);
  set->set_already_held(already_held);
  set->mutable_grant()->set_fencing_token(token);
  set->mutable_grant()->set_permits(permits);
  set->mutable_grant()->mutable_grant_time()->set_seconds(1'700'000'000);
  return event;
}
inline v1::SessionEvent SetNotAcquired(uint64_t command_id, const std::string& name,
                                       const std::string& holder_id) {
  v1::SessionEvent event;
  event.set_command_id(command_id);
  v1::SemaphoreState* state = event.mutable_set()->mutable_state();
  state->set_name(name);
  state->set_set(true);
  state->set_limit(1);
  state->set_permits_held(1);
  v1::Holder* holder = state->add_holders();
  holder->set_session_id(holder_id);
  holder->set_client_name("other");
  holder->mutable_grant()->set_permits(1);
  holder->mutable_grant()->set_fencing_token(3);
  return event;
}
inline v1::SessionEvent ErrorAnswer(uint64_t command_id, absl::StatusCode code,
                                    const std::string& message) {
  v1::SessionEvent event;
  event.set_command_id(command_id);
  event.mutable_error()->set_code(static_cast<int>(code));
  event.mutable_error()->set_message(message);
  return event;
}
inline v1::SessionEvent ClearAnswer(uint64_t command_id) {
  v1::SessionEvent event;
  event.set_command_id(command_id);
  event.mutable_clear()->set_released_permits(1);
  return event;
}

}  // namespace semaphored::internal::testing

#endif  // SEMAPHORED_TESTS_CLIENT_FAKE_STUB_H_
