#ifndef SEMAPHORED_CLIENT_LIB_SRC_LEADER_STUB_H_
#define SEMAPHORED_CLIENT_LIB_SRC_LEADER_STUB_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "grpc_stub.h"
#include "stub.h"

namespace semaphored::internal {

// The Stub for several servers (ClientOptions::address "A,B,C": servers sharing one
// etcd, one of which leads): every call goes to the server that answered last. A
// standby's answer ("standby: the leader is at HOST:PORT") sends the call, and every
// later one, to the leader it names; an unreachable server, to the next address in
// turn. A session stream is opened on the current server; how it ended (a standby, a
// server gone) moves the current server the same way, so that the session resumes on
// the leader (see RemoteSession). Thread-safe.
class LeaderStub final : public Stub, public std::enable_shared_from_this<LeaderStub> {
 public:
  // Tries the addresses in turn (following a standby's hint) until one server answers
  // as the leader, up to `timeout` in all. UNAVAILABLE "no server of A,B,C answered
  // as the leader: ..." when none does.
  static absl::StatusOr<std::shared_ptr<LeaderStub>> Connect(
      const std::vector<std::string>& addresses, absl::Duration timeout,
      std::shared_ptr<grpc::ChannelCredentials> credentials);
  // The stub without a first call (Connect without its search for the leader).
  static std::shared_ptr<LeaderStub> Make(std::vector<std::string> addresses,
                                          std::shared_ptr<grpc::ChannelCredentials> credentials);

  absl::StatusOr<semaphored::v1::CreateSessionResponse> CreateSession(
      const semaphored::v1::CreateSessionRequest& request, absl::Duration timeout) override;
  absl::StatusOr<semaphored::v1::TestSemaphoreResponse> TestSemaphore(
      const semaphored::v1::TestSemaphoreRequest& request, absl::Duration timeout) override;
  absl::Status Ping(absl::Duration timeout) override;
  std::shared_ptr<ClientStream> OpenStream(
      std::string secret, std::weak_ptr<ClientStreamObserver> observer) override;

  // The address calls go to now.
  std::string current() const ABSL_LOCKS_EXCLUDED(mu_);
  // Moves the current server after a call to `from` ended with `status`: to the leader
  // a standby named, or to the next address when `from` could not be reached (after a
  // hint: the address after the standby that gave it). Other results change nothing.
  void Note(const std::string& from, const absl::Status& status) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  class FollowingObserver;
  LeaderStub(std::vector<std::string> addresses,
             std::shared_ptr<grpc::ChannelCredentials> credentials);
  // The current address and its stub (made on first use).
  std::pair<std::string, std::shared_ptr<GrpcStub>> Current() ABSL_LOCKS_EXCLUDED(mu_);
  // Runs `call` on the current server, following hints and trying the next address
  // while it cannot be reached: at most one round of the addresses plus one hint.
  template <typename Call>
  auto OnLeader(Call call) -> decltype(call(std::declval<GrpcStub&>()));

  const std::shared_ptr<grpc::ChannelCredentials> credentials_;
  mutable absl::Mutex mu_;
  std::vector<std::string> addresses_ ABSL_GUARDED_BY(mu_);  // grows with hints
  size_t current_ ABSL_GUARDED_BY(mu_) = 0;
  // The standby whose hint made the current address current, until it answers or not.
  std::optional<size_t> hinted_by_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<GrpcStub>> stubs_ ABSL_GUARDED_BY(mu_);
};

// Whether `status` is a standby's answer (UNAVAILABLE "standby: ...").
bool IsStandbyAnswer(const absl::Status& status);
// The leader's address in a standby's answer, or "" when `status` is not one.
std::string LeaderHint(const absl::Status& status);

}  // namespace semaphored::internal

#endif  // SEMAPHORED_CLIENT_LIB_SRC_LEADER_STUB_H_
