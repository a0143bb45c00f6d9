// The attack suite's gRPC client pieces: own channels, health checks, bulk calls, counted streams.

#include "tests/attacks/grpc_util.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace semaphored::testing {

std::shared_ptr<grpc::Channel> OwnChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // Answers larger than the default 4 MiB are the server's to bound, not ours.
  args.SetMaxReceiveMessageSize(-1);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

grpc::Status HealthCheckNewConnection(const std::string& address,
                                      absl::Duration deadline) {
  auto stub = grpc::health::v1::Health::NewStub(OwnChannel(address));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, {}, &response);
  if (status.ok() && response.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        absl::StrCat("health status ", response.status()));
  }
  return status;
}

void CallCounts::Record(const grpc::Status& status) {
  if (status.ok()) {
    ++ok;
    return;
  }
  if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
    ++resource_exhausted;
  } else {
    ++other;
  }
  if (first_error.empty()) {
    first_error = absl::StrCat(status.error_code(), ": ", status.error_message());
  }
}

namespace {

// Calls in flight, shared with their callbacks (which may outlive the caller's wait).
struct CreateState {
  absl::Mutex mu;
  int outstanding ABSL_GUARDED_BY(mu) = 0;
  int64_t refusals_in_a_row ABSL_GUARDED_BY(mu) = 0;
  Sessions sessions ABSL_GUARDED_BY(mu);
};

struct CreateCall {
  grpc::ClientContext context;
  v1::CreateSessionRequest request;
  v1::CreateSessionResponse response;
};

}  // namespace

Sessions CreateSessions(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                        int64_t count, absl::Duration ttl, const std::string& client_name,
                        int in_flight, absl::Time deadline, int64_t stop_after_refusals,
                        bool keep) {
  std::vector<std::unique_ptr<v1::SemaphoreService::Stub>> stubs;
  for (const auto& channel : channels) stubs.push_back(v1::SemaphoreService::NewStub(channel));
  auto state = std::make_shared<CreateState>();
  for (int64_t started = 0; started < count; ++started) {
    {
      absl::MutexLock lock(&state->mu);
      auto room = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state->mu) {
        return state->outstanding < in_flight;
      };
      if (!state->mu.AwaitWithDeadline(absl::Condition(&room), deadline)) break;
      if (stop_after_refusals > 0 && state->refusals_in_a_row >= stop_after_refusals) break;
      ++state->outstanding;
    }
    auto* call = new CreateCall;
    call->context.set_deadline(absl::ToChronoTime(
        std::max(deadline, absl::Now()) + absl::Seconds(5)));
    call->request.set_client_name(client_name);
    call->request.mutable_ttl()->set_seconds(absl::ToInt64Seconds(ttl));
    stubs[started % stubs.size()]->async()->CreateSession(
        &call->context, &call->request, &call->response,
        [call, state, keep](grpc::Status status) {
          absl::MutexLock lock(&state->mu);
          state->sessions.calls.Record(status);
          if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
            ++state->refusals_in_a_row;
          } else {
            state->refusals_in_a_row = 0;
          }
          if (status.ok() && keep) {
            state->sessions.secrets.push_back(call->response.session_secret());
          }
          --state->outstanding;
          delete call;
        });
    if (absl::Now() >= deadline) break;
  }
  absl::MutexLock lock(&state->mu);
  auto drained = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state->mu) {
    return state->outstanding == 0;
  };
  state->mu.AwaitWithTimeout(absl::Condition(&drained), absl::Seconds(10));
  return state->sessions;
}

CountedStream::CountedStream(const std::shared_ptr<grpc::Channel>& channel,
                             std::string secret, bool read)
    : secret_(std::move(secret)) {
  stream_ = v1::SemaphoreService::NewStub(channel)->StreamSession(&context_);
  if (read) {
    reader_started_ = true;
    reader_ = std::thread([this] { ReadLoop(); });
  }
}

CountedStream::~CountedStream() { Cancel(); }

void CountedStream::Cancel() {
  context_.TryCancel();
  if (reader_.joinable()) {
    reader_.join();
  } else if (!reader_started_) {
    reader_started_ = true;  // finish the call here, once
    ReadLoop();  // returns at once: the call is cancelled
  }
}

bool CountedStream::Write(v1::StreamSessionRequest request) {
  if (first_write_) {
    request.set_session_secret(secret_);
    first_write_ = false;
  }
  return stream_->Write(request);
}

void CountedStream::ReadLoop() {
  v1::StreamSessionResponse response;
  while (stream_->Read(&response)) {
    absl::MutexLock lock(&mu_);
    for (const v1::SessionEvent& event : response.events()) {
      ++counts_.events;
      counts_.max_event_command =
          std::max<int64_t>(counts_.max_event_command, event.command_id());
      switch (event.event_case()) {
        case v1::SessionEvent::kSet:
          ++(event.set().acquired() ? counts_.acquired : counts_.not_acquired);
          break;
        case v1::SessionEvent::kError:
          ++counts_.errors;
          if (event.error().code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
            ++counts_.resource_exhausted;
          }
          if (counts_.first_error.empty()) {
            counts_.first_error =
                absl::StrCat(event.error().code(), ": ", event.error().message());
          }
          break;
        case v1::SessionEvent::kPing:
          ++counts_.pings;
          break;
        case v1::SessionEvent::kTest:
          ++counts_.tests;
          break;
        default:
          break;
      }
    }
  }
  const grpc::Status status = stream_->Finish();
  absl::MutexLock lock(&mu_);
  counts_.ended = true;
  counts_.end_status = absl::StrCat(status.error_code(), ": ", status.error_message());
}

bool CountedStream::WaitFor(const std::function<bool(const Counts&)>& done,
                            absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return done(counts_) || counts_.ended;
  };
  mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
  return done(counts_);
}

CountedStream::Counts CountedStream::counts() const {
  absl::MutexLock lock(&mu_);
  return counts_;
}

}  // namespace semaphored::testing
