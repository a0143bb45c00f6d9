// A holder cut off by the network: the holder (tests/multiprocess/mp_client) runs in a
// network namespace joined to the host by a veth pair, and reaches the server (the
// real binary, as a child process) on the host end's address. The test sets the
// namespace's link down: the holder's session expires on the server after its TTL and a
// waiter here (over the host's own stack) is granted; the link comes back up: the holder
// is told its session was lost, and its late clear is refused with the session-expired
// error.
//
// Needs root (or CAP_SYS_ADMIN + CAP_NET_ADMIN) to make the namespace; without it the
// test is skipped with the reason. It creates nothing but its own namespace and pair
// (see netns.h) and deletes them in TearDown, or the next run does after a crash.

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "semaphored/client.h"
#include "semaphored/v1/admin.grpc.pb.h"
#include "tests/common/status_matchers.h"
#include "tests/faults/netns.h"
#include "tests/faults/server_child.h"
#include "tests/multiprocess/child_process.h"

namespace semaphored {
namespace {

using ::semaphored::testing::ChildProcess;
using ::semaphored::testing::IsOk;
using ::semaphored::testing::ScratchDir;
using ::semaphored::testing::ServerChild;
using ::semaphored::testing::VethNamespace;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Long enough that the server's "session ended" push, retransmitted by TCP at most a
// few hundred milliseconds after the link is back, reaches the holder before its own
// watchdog (which presumes the session lost 1-2 s after a TTL of silence) does.
constexpr absl::Duration kHolderTtl = absl::Seconds(3);
// Scheduling, the server's expiry tick and the network.
constexpr absl::Duration kMargin = absl::Milliseconds(500);

class NetworkCutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<VethNamespace>> ns = VethNamespace::Create();
    if (ns.status().code() == absl::StatusCode::kPermissionDenied ||
        ns.status().code() == absl::StatusCode::kFailedPrecondition) {
      GTEST_SKIP() << "cannot make a network namespace here: " << ns.status().message();
    }
    ASSERT_TRUE(ns.ok()) << ns.status();
    ns_ = *std::move(ns);

    // The server listens on the host end only (not on every interface).
    ASSERT_FALSE(dir_.path().empty());
    ASSERT_THAT(semaphored::testing::WriteFileText(dir_.File("admin_token"), kAdminToken),
                IsOk());
    // A token file others may read is refused at start.
    ASSERT_EQ(chmod(dir_.File("admin_token").c_str(), 0600), 0);
    ASSERT_OK_AND_ASSIGN(
        server_,
        ServerChild::Start(SEMAPHORED_BINARY, dir_.path(), ns_->host_address(), 0,
                           {"--state_file=", "--min_ttl=100ms",
                            "--admin_token_file=" + dir_.File("admin_token")}));
    ClientOptions client_options;
    client_options.address = server_->address();
    ASSERT_OK_AND_ASSIGN(client_, Client::Connect(client_options));
    ASSERT_OK_AND_ASSIGN(waiter_, client_->OpenSession());
  }

  void TearDown() override {
    holder_.reset();  // kills the holder before its namespace goes
    waiter_.reset();
    client_.reset();
    server_.reset();
    ns_.reset();
  }

  // Asks the holder for its state until it reports its session lost (bounded).
  std::string AwaitHolderLost(absl::Duration limit) {
    std::string status;
    const absl::Time give_up = absl::Now() + limit;
    while (absl::Now() < give_up) {
      holder_->WriteLine("status");
      status = holder_->ReadLine(absl::Seconds(5)).value_or("(no answer)");
      if (absl::StartsWith(status, "LOST 1")) break;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return status;
  }

  // The peer address the server records for the session of client "mp_client".
  std::string HolderPeer() {
    auto admin = v1::AdminService::NewStub(
        grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    context.AddMetadata("authorization", absl::StrCat("Bearer ", kAdminToken));
    v1::ListSessionsResponse sessions;
    const grpc::Status status =
        admin->ListSessions(&context, v1::ListSessionsRequest(), &sessions);
    EXPECT_TRUE(status.ok()) << status.error_message();
    for (const v1::SessionInfo& s : sessions.sessions()) {
      if (s.client_name() == "mp_client") return s.peer();
    }
    return "(no session of mp_client)";
  }

  // A semaphore's state, as any client sees it.
  SemaphoreInfo State() {
    absl::StatusOr<SemaphoreInfo> info = client_->Test(name_);
    EXPECT_TRUE(info.ok()) << info.status();
    return info.value_or(SemaphoreInfo());
  }

  static constexpr char kAdminToken[] = "netcut-admin-token-0123456789abcdef";
  std::string name_ = absl::StrCat("netcut-", ::getpid());
  ScratchDir dir_{"semaphored_netcut_"};
  std::unique_ptr<VethNamespace> ns_;
  std::unique_ptr<ServerChild> server_;
  std::unique_ptr<Client> client_;
  std::unique_ptr<Session> waiter_;
  std::unique_ptr<ChildProcess> holder_;
};

TEST_F(NetworkCutTest, CutOffHolderExpiresWaiterIsGrantedHolderIsToldWhenLinkReturns) {
  holder_ = std::make_unique<ChildProcess>(
      ns_->InNamespace({MP_CLIENT_PATH, server_->address(), name_,
                        std::to_string(absl::ToInt64Milliseconds(kHolderTtl))}));
  const std::string held = holder_->ReadLine(absl::Seconds(20)).value_or("(nothing)");
  ASSERT_THAT(held, StartsWith("HELD "));
  uint64_t holder_token = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripPrefix(held, "HELD "), &holder_token));
  // The holder really comes from the namespace's address.
  ASSERT_EQ(HolderPeer(), ns_->ns_address());

  // A waiter on the host queues behind the holder.
  absl::Time granted_at = absl::InfiniteFuture();
  uint64_t waiter_token = 0;
  absl::Notification granted;
  std::thread waiter([&] {
    AcquireOptions options;
    options.timeout = absl::Seconds(20);
    absl::StatusOr<Permit> permit = waiter_->Acquire(name_, options);
    if (permit.ok() && permit->acquired()) {
      granted_at = absl::Now();
      waiter_token = permit->fencing_token();
      permit->Release().IgnoreError();
    }
    EXPECT_TRUE(permit.ok()) << permit.status();
    granted.Notify();
  });
  const absl::Time queued_limit = absl::Now() + absl::Seconds(10);
  while (State().waiter_count == 0 && absl::Now() < queued_limit) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_EQ(State().waiter_count, 1);

  // Cut the cable; the holder's keepalives stop reaching the server.
  ASSERT_THAT(ns_->SetLink(false), IsOk());
  const absl::Time cut_at = absl::Now();
  const bool was_granted =
      granted.WaitForNotificationWithTimeout(kHolderTtl + absl::Seconds(10));
  waiter.join();
  ASSERT_TRUE(was_granted);
  const absl::Duration elapsed = granted_at - cut_at;
  std::printf("MEASURED link down -> waiter granted: %.1f ms (holder TTL %s)\n",
              absl::ToDoubleMilliseconds(elapsed),
              absl::FormatDuration(kHolderTtl).c_str());
  EXPECT_LE(elapsed, kHolderTtl + kMargin);
  EXPECT_GE(elapsed, kHolderTtl / 3) << "a cut-off holder keeps its lease until the TTL";
  EXPECT_GT(waiter_token, holder_token);
  // Cut off, the holder does not know yet (its own watchdog would only presume the
  // loss 1-2 s after a TTL of silence; see kHolderTtl).
  holder_->WriteLine("status");
  EXPECT_THAT(holder_->ReadLine(absl::Seconds(5)).value_or("(no answer)"),
              StartsWith("LOST 0"));

  // The link returns: the holder hears that its session is gone...
  ASSERT_THAT(ns_->SetLink(true), IsOk());
  const absl::Time up_at = absl::Now();
  const std::string status = AwaitHolderLost(absl::Seconds(15));
  std::printf("MEASURED link up -> holder reports its session lost: %.1f ms: %s\n",
              absl::ToDoubleMilliseconds(absl::Now() - up_at), status.c_str());
  EXPECT_THAT(status, StartsWith("LOST 1"));
  EXPECT_THAT(status, HasSubstr("UNAUTHENTICATED"));
  EXPECT_THAT(status, HasSubstr("expired"));
  // ...and its late clear is refused with the session-expired error.
  holder_->WriteLine("clear");
  const std::string clear = holder_->ReadLine(absl::Seconds(10)).value_or("(no answer)");
  EXPECT_THAT(clear, StartsWith("CLEAR UNAUTHENTICATED"));
  EXPECT_THAT(clear, HasSubstr("expired"));
  // The semaphore is free: the waiter released it, and nothing of the holder is left.
  EXPECT_FALSE(State().set);
}

}  // namespace
}  // namespace semaphored
