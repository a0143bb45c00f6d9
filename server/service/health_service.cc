// The gRPC health service, with per-service serving status and watches.

#include "server/service/health_service.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace semaphored::server {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// One Watch call. Reference-counted: gRPC's reference (self_) is dropped in OnDone;
// the service holds weak references. StartWrite and Finish are called without any
// lock held, since gRPC may run reactions inline from a non-gRPC thread.
class HealthServiceImpl::Watcher final
    : public grpc::ServerWriteReactor<HealthCheckResponse>,
      public std::enable_shared_from_this<HealthServiceImpl::Watcher> {
 public:
  Watcher(HealthServiceImpl* service, uint64_t id, std::string service_name)
      : service_(service), id_(id), service_name_(std::move(service_name)) {}

  const std::string& service_name() const { return service_name_; }

  void Start(ServingStatus initial) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      self_ = shared_from_this();
      next_ = initial;
    }
    Pump();
  }
  // Queues `status` to be sent unless it is the last one sent (only the latest of
  // several quick changes is sent).
  void Update(ServingStatus status) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      if (!next_.has_value() && last_sent_ == status) return;
      next_ = status;
    }
    Pump();
  }
  // Finishes with `status` once the queued update is written.
  void End(grpc::Status status) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      if (ending_) return;
      ending_ = true;
      end_status_ = std::move(status);
    }
    Pump();
  }

  void OnWriteDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      write_in_flight_ = false;
      if (!ok) {
        broken_ = true;
        if (!ending_) {
          ending_ = true;
          end_status_ = grpc::Status(grpc::StatusCode::CANCELLED, "write failed");
        }
      }
    }
    Pump();
  }
  void OnCancel() override {
    End(grpc::Status(grpc::StatusCode::CANCELLED, "the watch was cancelled"));
  }
  void OnDone() override ABSL_LOCKS_EXCLUDED(mu_) {
    service_->RemoveWatcher(id_);
    std::shared_ptr<Watcher> me;
    absl::MutexLock lock(&mu_);
    me = std::move(self_);
  }

 private:
  void Pump() ABSL_LOCKS_EXCLUDED(mu_) {
    // Ends when nothing can start: a write stays in flight until OnWriteDone, and
    // each inline completion can only consume a queued update.
    for (;;) {
      bool write = false;
      grpc::Status finish;
      {
        absl::MutexLock lock(&mu_);
        if (finished_ || write_in_flight_) return;
        if (next_.has_value() && !broken_) {
          response_.set_status(*next_);
          last_sent_ = *next_;
          next_.reset();
          write_in_flight_ = true;
          write = true;
        } else if (ending_) {
          finished_ = true;
          finish = end_status_;
        } else {
          return;
        }
      }
      if (!write) {
        Finish(std::move(finish));
        return;  // OnDone may follow at once
      }
      StartWrite(&response_);
    }
  }

  HealthServiceImpl* const service_;
  const uint64_t id_;
  const std::string service_name_;
  absl::Mutex mu_;
  // State below is protected by mu_ (response_ is also read by gRPC while
  // write_in_flight_).
  std::shared_ptr<Watcher> self_ ABSL_GUARDED_BY(mu_);
  HealthCheckResponse response_;
  std::optional<ServingStatus> next_ ABSL_GUARDED_BY(mu_);
  std::optional<ServingStatus> last_sent_ ABSL_GUARDED_BY(mu_);
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool ending_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status end_status_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

HealthServiceImpl::HealthServiceImpl(std::initializer_list<std::string> services) {
  absl::MutexLock lock(&mu_);
  statuses_[""] = HealthCheckResponse::SERVING;
  for (const std::string& service : services) {
    statuses_[service] = HealthCheckResponse::SERVING;
  }
}

HealthServiceImpl::~HealthServiceImpl() = default;

HealthServiceImpl::ServingStatus HealthServiceImpl::StatusLocked(
    const std::string& service) const {
  auto it = statuses_.find(service);
  return it == statuses_.end() ? HealthCheckResponse::SERVICE_UNKNOWN : it->second;
}

void HealthServiceImpl::SetServing(bool serving) { Set(nullptr, serving); }

void HealthServiceImpl::SetServing(const std::string& service, bool serving) {
  Set(&service, serving);
}

void HealthServiceImpl::SetCheckMetadata(
    std::vector<std::pair<std::string, std::string>> metadata) {
  absl::MutexLock lock(&mu_);
  check_metadata_ = std::move(metadata);
}

void HealthServiceImpl::Set(const std::string* service, bool serving) {
  const ServingStatus status =
      serving ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
  std::vector<std::pair<std::shared_ptr<Watcher>, ServingStatus>> to_tell;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [name, s] : statuses_) {
      if (service == nullptr || name == *service) s = status;
    }
    for (const auto& [id, weak] : watchers_) {
      if (std::shared_ptr<Watcher> w = weak.lock()) {
        // A watcher of an unknown name gets SERVICE_UNKNOWN again, which it skips.
        ServingStatus s = StatusLocked(w->service_name());
        to_tell.emplace_back(std::move(w), s);
      }
    }
  }
  // Told without the lock: Update may start a write, whose reaction may run inline.
  for (auto& [watcher, s] : to_tell) watcher->Update(s);
}

void HealthServiceImpl::Shutdown() {
  std::vector<std::shared_ptr<Watcher>> to_end;
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
    for (const auto& [id, weak] : watchers_) {
      if (std::shared_ptr<Watcher> w = weak.lock()) to_end.push_back(std::move(w));
    }
  }
  for (auto& watcher : to_end) {
    watcher->End(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down"));
  }
}

void HealthServiceImpl::RemoveWatcher(uint64_t id) {
  absl::MutexLock lock(&mu_);
  watchers_.erase(id);
}

grpc::ServerUnaryReactor* HealthServiceImpl::Check(grpc::CallbackServerContext* context,
                                                   const HealthCheckRequest* request,
                                                   HealthCheckResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ServingStatus status;
  {
    absl::MutexLock lock(&mu_);
    status = StatusLocked(request->service());
    for (const auto& [key, value] : check_metadata_) context->AddTrailingMetadata(key, value);
  }
  if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
    reactor->Finish(
        grpc::Status(grpc::StatusCode::NOT_FOUND,
                     "unknown service \"" + request->service() +
                         "\": ask about \"\" or semaphored.v1.SemaphoreService"));
    return reactor;
  }
  response->set_status(status);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerWriteReactor<HealthCheckResponse>* HealthServiceImpl::Watch(
    grpc::CallbackServerContext* /*context*/, const HealthCheckRequest* request) {
  std::shared_ptr<Watcher> watcher;
  bool shutdown;
  {
    absl::MutexLock lock(&mu_);
    const uint64_t id = ++last_watcher_id_;
    watcher = std::make_shared<Watcher>(this, id, request->service());
    shutdown = shutdown_;
    if (!shutdown) watchers_[id] = watcher;
    // Started under the lock so that no SetServing slips in between reading the
    // status and queueing it. Safe: the reactor is not bound to its call yet, so the
    // write is only recorded and no reaction can run.
    watcher->Start(StatusLocked(request->service()));
  }
  if (shutdown) {
    watcher->End(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down"));
  }
  return watcher.get();
}

}  // namespace semaphored::server
