// LeaderStub: calls to whichever of several servers leads, following standbys' hints.

#include "leader_stub.h"

#include <algorithm>
#include <type_traits>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace semaphored::internal {
namespace {

constexpr absl::string_view kStandby = "standby: ";
constexpr absl::string_view kLeaderIs = "the leader is at ";

}  // namespace

bool IsStandbyAnswer(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable &&
         absl::StartsWith(status.message(), kStandby);
}

std::string LeaderHint(const absl::Status& status) {
  if (!IsStandbyAnswer(status)) return "";
  absl::string_view message = status.message();
  const size_t at = message.find(kLeaderIs);
  if (at == absl::string_view::npos) return "";
  absl::string_view rest = message.substr(at + kLeaderIs.size());
  return std::string(rest.substr(0, rest.find(';')));
}

// Forwards a stream's events to the session, and tells the stub how the stream ended.
// Owns itself until the stream has ended (the stream keeps only a weak reference).
class LeaderStub::FollowingObserver : public ClientStreamObserver {
 public:
  static std::shared_ptr<FollowingObserver> Make(std::weak_ptr<LeaderStub> stub,
                                                 std::string address,
                                                 std::weak_ptr<ClientStreamObserver> session) {
    std::shared_ptr<FollowingObserver> observer(
        new FollowingObserver(std::move(stub), std::move(address), std::move(session)));
    observer->self_ = observer;
    return observer;
  }
  void OnEvents(semaphored::v1::StreamSessionResponse& response) override {
    if (auto session = session_.lock()) session->OnEvents(response);
  }
  void OnClosed(const absl::Status& status) override {
    // The stub first: the session may open its next stream from inside OnClosed.
    if (auto stub = stub_.lock()) stub->Note(address_, status);
    if (auto session = session_.lock()) session->OnClosed(status);
    self_.reset();  // may destroy this
  }

 private:
  FollowingObserver(std::weak_ptr<LeaderStub> stub, std::string address,
                    std::weak_ptr<ClientStreamObserver> session)
      : stub_(std::move(stub)), address_(std::move(address)), session_(std::move(session)) {}

  const std::weak_ptr<LeaderStub> stub_;
  const std::string address_;
  const std::weak_ptr<ClientStreamObserver> session_;
  std::shared_ptr<FollowingObserver> self_;
};

LeaderStub::LeaderStub(std::vector<std::string> addresses,
                       std::shared_ptr<grpc::ChannelCredentials> credentials)
    : credentials_(std::move(credentials)), addresses_(std::move(addresses)) {}

std::shared_ptr<LeaderStub> LeaderStub::Make(
    std::vector<std::string> addresses, std::shared_ptr<grpc::ChannelCredentials> credentials) {
  return std::shared_ptr<LeaderStub>(new LeaderStub(std::move(addresses), std::move(credentials)));
}

absl::StatusOr<std::shared_ptr<LeaderStub>> LeaderStub::Connect(
    const std::vector<std::string>& addresses, absl::Duration timeout,
    std::shared_ptr<grpc::ChannelCredentials> credentials) {
  std::shared_ptr<LeaderStub> stub = Make(addresses, std::move(credentials));
  const absl::Time deadline = absl::Now() + timeout;
  absl::Status last;
  while (absl::Now() < deadline) {
    last = stub->Ping(std::min(absl::Seconds(1), deadline - absl::Now()));
    if (last.ok()) return stub;
    absl::SleepFor(std::min(absl::Milliseconds(100), std::max(absl::ZeroDuration(),
                                                              deadline - absl::Now())));
  }
  return absl::UnavailableError(absl::StrCat("no server of ", absl::StrJoin(addresses, ","),
                                             " answered as the leader within ",
                                             absl::FormatDuration(timeout), ": ",
                                             last.message()));
}

std::string LeaderStub::current() const {
  absl::MutexLock lock(&mu_);
  return addresses_[current_];
}

std::pair<std::string, std::shared_ptr<GrpcStub>> LeaderStub::Current() {
  absl::MutexLock lock(&mu_);
  const std::string& address = addresses_[current_];
  std::shared_ptr<GrpcStub>& stub = stubs_[address];
  if (stub == nullptr) stub = GrpcStub::Create(address, credentials_);
  return {address, stub};
}

void LeaderStub::Note(const std::string& from, const absl::Status& status) {
  if (status.code() != absl::StatusCode::kUnavailable) return;
  const std::string hint = LeaderHint(status);
  absl::MutexLock lock(&mu_);
  if (addresses_[current_] != from) return;  // moved on already
  if (!hint.empty()) {
    auto it = std::find(addresses_.begin(), addresses_.end(), hint);
    if (it == addresses_.end()) it = addresses_.insert(addresses_.end(), hint);
    hinted_by_ = current_;
    current_ = static_cast<size_t>(it - addresses_.begin());
  } else if (!IsStandbyAnswer(status)) {
    // Unreachable: the next one. After a hint, the one after the standby that gave
    // it: the named address may be one this client cannot reach (a leader advertising
    // an address for another network), and going round from it would lead back to
    // the same standby and the same hint for ever.
    current_ = (hinted_by_.value_or(current_) + 1) % addresses_.size();
    hinted_by_.reset();
  }
}

template <typename Call>
auto LeaderStub::OnLeader(Call call) -> decltype(call(std::declval<GrpcStub&>())) {
  size_t tries = 0;
  {
    absl::MutexLock lock(&mu_);
    tries = addresses_.size() + 1;
  }
  for (;;) {
    auto [address, stub] = Current();
    auto result = call(*stub);
    absl::Status status;
    if constexpr (std::is_same_v<decltype(result), absl::Status>) {
      status = result;
    } else {
      status = result.status();
    }
    Note(address, status);
    if (--tries == 0 || status.code() != absl::StatusCode::kUnavailable ||
        current() == address) {
      return result;
    }
  }
}

absl::StatusOr<semaphored::v1::CreateSessionResponse> LeaderStub::CreateSession(
    const semaphored::v1::CreateSessionRequest& request, absl::Duration timeout) {
  return OnLeader([&](GrpcStub& stub) { return stub.CreateSession(request, timeout); });
}

absl::StatusOr<semaphored::v1::TestSemaphoreResponse> LeaderStub::TestSemaphore(
    const semaphored::v1::TestSemaphoreRequest& request, absl::Duration timeout) {
  return OnLeader([&](GrpcStub& stub) { return stub.TestSemaphore(request, timeout); });
}

absl::Status LeaderStub::Ping(absl::Duration timeout) {
  return OnLeader([&](GrpcStub& stub) { return stub.Ping(timeout); });
}

std::shared_ptr<ClientStream> LeaderStub::OpenStream(
    std::string secret, std::weak_ptr<ClientStreamObserver> observer) {
  auto [address, stub] = Current();
  return stub->OpenStream(std::move(secret),
                          FollowingObserver::Make(weak_from_this(), address, std::move(observer)));
}

}  // namespace semaphored::internal
