// LeaderStub's choice of server (no server needed: Note is given the answers): a
// standby's hint is followed; an unreachable server gives way to the next address; a
// hinted address this client cannot reach gives way to the address after the standby
// that named it, so that every address is tried.

#include "leader_stub.h"

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"

namespace semaphored::internal {
namespace {

absl::Status Standby(const std::string& leader) {
  return absl::UnavailableError(absl::StrCat("standby: the leader is at ", leader));
}
const absl::Status kUnreachable = absl::UnavailableError("failed to connect to all addresses");

std::shared_ptr<LeaderStub> Stub() {
  return LeaderStub::Make({"a:1", "b:1", "c:1"}, grpc::InsecureChannelCredentials());
}

TEST(LeaderStubTest, FollowsAHintAndMovesOnFromAnUnreachableServer) {
  std::shared_ptr<LeaderStub> stub = Stub();
  EXPECT_EQ(stub->current(), "a:1");
  stub->Note("a:1", Standby("c:1"));
  EXPECT_EQ(stub->current(), "c:1");
  stub->Note("c:1", absl::OkStatus());
  EXPECT_EQ(stub->current(), "c:1");
  stub->Note("a:1", kUnreachable);  // an old call's answer: moved on already
  EXPECT_EQ(stub->current(), "c:1");
  stub->Note("c:1", absl::DeadlineExceededError("slow"));  // reachable: stays
  EXPECT_EQ(stub->current(), "c:1");
  stub->Note("c:1", absl::UnavailableError("standby: no leader yet"));  // asks again
  EXPECT_EQ(stub->current(), "c:1");
}

TEST(LeaderStubTest, AnUnreachableHintLeadsOnToTheAddressAfterTheStandbyThatGaveIt) {
  std::shared_ptr<LeaderStub> stub = Stub();
  stub->Note("a:1", kUnreachable);
  EXPECT_EQ(stub->current(), "b:1");
  // b names an address for another network ("10.9.9.9:1"): added, tried, unreachable.
  stub->Note("b:1", Standby("10.9.9.9:1"));
  EXPECT_EQ(stub->current(), "10.9.9.9:1");
  stub->Note("10.9.9.9:1", kUnreachable);
  EXPECT_EQ(stub->current(), "c:1") << "not back to a standby that names it again";
  stub->Note("c:1", Standby("10.9.9.9:1"));
  EXPECT_EQ(stub->current(), "10.9.9.9:1");
  stub->Note("10.9.9.9:1", kUnreachable);
  EXPECT_EQ(stub->current(), "10.9.9.9:1") << "after c comes the added address";
  stub->Note("10.9.9.9:1", kUnreachable);
  EXPECT_EQ(stub->current(), "a:1") << "round again";
}

}  // namespace
}  // namespace semaphored::internal
