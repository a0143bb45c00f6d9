// Peer strings (server/service/peer.h): a table of the forms gRPC 1.51 writes, and the
// strings captured from real servers on 127.0.0.1, [::1] and the admin socket, so that
// the table cannot drift from what gRPC really produces.

#include "server/service/peer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "common/local_admin.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/test_server.h"

namespace semaphored::server::testing {

using ::semaphored::internal::IsLoopbackHost;
namespace {

using ::testing::MatchesRegex;
using Kind = Peer::Kind;

TEST(PeerTest, ParsesEveryFormGrpcWrites) {
  struct Case {
    std::string peer;
    Kind kind;
    std::string host;
    int port;
    std::string peer_host;
    bool loopback;
  };
  const std::vector<Case> cases = {
      {"ipv4:127.0.0.1:43112", Kind::kIpv4, "127.0.0.1", 43112, "127.0.0.1", true},
      {"ipv4:127.1.2.3:1", Kind::kIpv4, "127.1.2.3", 1, "127.1.2.3", true},
      {"ipv4:10.1.2.3:4000", Kind::kIpv4, "10.1.2.3", 4000, "10.1.2.3", false},
      {"ipv4:128.0.0.1:4000", Kind::kIpv4, "128.0.0.1", 4000, "128.0.0.1", false},
      // What gRPC 1.51 writes for IPv6: the brackets %-escaped.
      {"ipv6:%5B::1%5D:43162", Kind::kIpv6, "::1", 43162, "::1", true},
      {"ipv6:%5B2001:db8::1%5D:4000", Kind::kIpv6, "2001:db8::1", 4000, "2001:db8::1",
       false},
      // A zone: its '%' is escaped too.
      {"ipv6:%5Bfe80::1%25eth0%5D:7", Kind::kIpv6, "fe80::1%eth0", 7, "fe80::1%eth0",
       false},
      // IPv4-mapped: one host key with the IPv4 form, loopback when 127/8.
      {"ipv6:%5B::ffff:127.0.0.1%5D:9", Kind::kIpv6, "127.0.0.1", 9, "127.0.0.1", true},
      {"ipv6:%5B::ffff:10.0.0.1%5D:9", Kind::kIpv6, "10.0.0.1", 9, "10.0.0.1", false},
      // Unescaped brackets (older gRPC) are read the same.
      {"ipv6:[::1]:5", Kind::kIpv6, "::1", 5, "::1", true},
      // Lookalikes of ::1 are not loopback.
      {"ipv6:%5B::10%5D:4000", Kind::kIpv6, "::10", 4000, "::10", false},
      {"ipv6:%5B::1:0%5D:4000", Kind::kIpv6, "::1:0", 4000, "::1:0", false},
      {"unix:", Kind::kUnix, "", 0, "unix:", false},
      {"unix:/run/x.sock", Kind::kUnix, "/run/x.sock", 0, "unix:/run/x.sock", false},
      {"fd:13", Kind::kFd, "13", 0, "fd", false},
      {"fd:x", Kind::kOther, "fd:x", 0, "fd:x", false},
      {"ipv4:127.0.0.1", Kind::kOther, "ipv4:127.0.0.1", 0, "ipv4:127.0.0.1", false},
      {"vsock:3:4", Kind::kOther, "vsock:3:4", 0, "vsock:3:4", false},
      {"", Kind::kOther, "", 0, "unknown", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.peer);
    const Peer peer = ParsePeer(c.peer);
    EXPECT_EQ(peer.kind, c.kind);
    EXPECT_EQ(peer.host, c.host);
    EXPECT_EQ(peer.port, c.port);
    EXPECT_EQ(PeerHost(c.peer), c.peer_host);
    EXPECT_EQ(IsLoopbackPeer(c.peer), c.loopback);
  }
}

TEST(PeerTest, LoopbackHosts) {
  struct Case {
    std::string host;
    bool loopback;
  };
  const std::vector<Case> cases = {
      {"localhost", true},   {"LocalHost", true},       {"127.0.0.1", true},
      {"127.255.0.9", true}, {"::1", true},             {"[::1]", true},
      {"::ffff:127.0.0.2", true}, {"[::ffff:127.0.0.2]", true},
      {"0.0.0.0", false},    {"[::]", false},           {"::", false},
      {"10.0.0.1", false},   {"::ffff:10.0.0.1", false}, {"example.com", false},
      {"[::1", false},       {"", false},               {"127.0.0.1.example", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.host);
    EXPECT_EQ(IsLoopbackHost(c.host), c.loopback);
  }
}

// The peer, as gRPC wrote it, of the call that created a session over `channel`: the
// session_start log line carries it (the core keeps only PeerHost of it).
std::string SessionPeerOver(TestServer& server, std::shared_ptr<grpc::Channel> channel) {
  auto stub = v1::SemaphoreService::NewStub(channel);
  TestSession session = OpenSession(*stub, "peer-test");
  const std::string line =
      server.log().Await({"session_start", absl::StrCat("session=", session.id)});
  const size_t at = line.find(" peer=");
  if (at == std::string::npos) {
    ADD_FAILURE() << "no peer in the session_start line: " << line;
    return "";
  }
  std::string peer = line.substr(at + 6);
  if (!peer.empty() && peer.front() == '"') {
    peer = peer.substr(1, peer.find('"', 1) - 1);
  } else {
    peer = peer.substr(0, peer.find(' '));
  }
  return peer;
}

bool HasIpv6Loopback() {
  const int fd = socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

TEST(PeerCaptureTest, Ipv4LoopbackAsGrpcWritesIt) {
  TestServer server;
  const std::string peer = SessionPeerOver(server, server.NewChannel());
  EXPECT_THAT(peer, MatchesRegex("ipv4:127\\.0\\.0\\.1:[0-9]+"));
  EXPECT_EQ(ParsePeer(peer).kind, Kind::kIpv4);
  EXPECT_EQ(PeerHost(peer), "127.0.0.1");
  EXPECT_TRUE(IsLoopbackPeer(peer));
}

TEST(PeerCaptureTest, Ipv6LoopbackAsGrpcWritesIt) {
  if (!HasIpv6Loopback()) GTEST_SKIP() << "this machine has no IPv6 loopback (::1)";
  ServerOptions options = TestServerOptions();
  options.listen_address = "[::1]:0";
  TestServer server(options);
  const std::string peer = SessionPeerOver(server, server.NewChannel());
  // gRPC 1.51 escapes the brackets: "ipv6:%5B::1%5D:PORT".
  EXPECT_THAT(peer, MatchesRegex("ipv6:%5B::1%5D:[0-9]+"));
  EXPECT_EQ(ParsePeer(peer).kind, Kind::kIpv6);
  EXPECT_EQ(PeerHost(peer), "::1");
  EXPECT_TRUE(IsLoopbackPeer(peer));
}

TEST(PeerCaptureTest, AdminSocketCallersAreFdPeers) {
  char dir_template[] = "/tmp/semaphored-peer-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  {
    ServerOptions options = TestServerOptions();
    options.admin_socket = dir + "/admin.sock";
    TestServer server(options);
    const std::string peer = SessionPeerOver(
        server, grpc::CreateChannel("unix:" + options.admin_socket,
                                    grpc::InsecureChannelCredentials()));
    EXPECT_THAT(peer, MatchesRegex("fd:[0-9]+"));
    EXPECT_EQ(ParsePeer(peer).kind, Kind::kFd);
    EXPECT_EQ(PeerHost(peer), "fd");
    EXPECT_FALSE(IsLoopbackPeer(peer));
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace semaphored::server::testing
