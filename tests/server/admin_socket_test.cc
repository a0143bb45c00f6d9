// The admin socket (server/admin_socket.h) on a real in-process server: mode 0600,
// admin without a token for the server's own user, another user's connection closed
// before gRPC sees it, stale sockets replaced, unsafe places refused, the file removed
// at shutdown, and the default ("auto") path.

#include "server/admin_socket.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/local_admin.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "semaphored/v1/admin.grpc.pb.h"
#include "tests/common/status_matchers.h"
#include "tests/server/test_server.h"

namespace semaphored::server::testing {

using ::semaphored::internal::DefaultAdminSocketPath;
namespace {

using ::semaphored::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using Code = grpc::StatusCode;

constexpr char kToken[] = "0123456789abcdef0123456789abcdef";

// A fresh private directory (mode 0700), removed with its contents.
class TempDir {
 public:
  TempDir() {
    char dir_template[] = "/tmp/semaphored-sock-test-XXXXXX";
    if (mkdtemp(dir_template) == nullptr) ADD_FAILURE() << "mkdtemp: " << errno;
    path_ = dir_template;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::shared_ptr<grpc::Channel> SocketChannel(const std::string& path) {
  return grpc::CreateChannel("unix:" + path, grpc::InsecureChannelCredentials());
}

grpc::Status ListSessions(const std::shared_ptr<grpc::Channel>& channel,
                          const std::string& token = "") {
  std::unique_ptr<grpc::ClientContext> context = Ctx();
  if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
  v1::ListSessionsResponse response;
  return v1::AdminService::NewStub(channel)->ListSessions(context.get(), {}, &response);
}

ServerOptions WithSocket(const std::string& path) {
  ServerOptions options = TestServerOptions();
  options.admin_socket = path;
  return options;
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
  return st.st_mode;
}

bool Exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

TEST(AdminSocketTest, OnlyRootAndTheServersUserAreAllowed) {
  const uid_t server = 1000;
  EXPECT_TRUE(AdminSocketAllows(0, server));
  EXPECT_TRUE(AdminSocketAllows(server, server));
  EXPECT_FALSE(AdminSocketAllows(1001, server));
  EXPECT_FALSE(AdminSocketAllows(65534, server));
  EXPECT_TRUE(AdminSocketAllows(0, 0));
  EXPECT_FALSE(AdminSocketAllows(1000, 0));
}

TEST(AdminSocketTest, ServesAdminWithoutATokenWhileTcpNeedsOne) {
  TempDir dir;
  const std::string path = dir.File("admin.sock");
  for (const std::string& token : {std::string(), std::string(kToken)}) {
    SCOPED_TRACE(token.empty() ? "no token configured" : "a token configured");
    ServerOptions options = WithSocket(path);
    options.admin_token = token;
    TestServer server(options);
    EXPECT_EQ(server.server().admin_socket_path(), path);
    EXPECT_TRUE(S_ISSOCK(ModeOf(path)));
    EXPECT_EQ(ModeOf(path) & 07777, 0600);

    EXPECT_TRUE(ListSessions(SocketChannel(path)).ok());
    // TCP from loopback is not trusted: a forwarder would make anyone loopback.
    EXPECT_THAT(ListSessions(server.NewChannel()),
                GrpcIs(token.empty() ? Code::PERMISSION_DENIED : Code::UNAUTHENTICATED));
    if (!token.empty()) {
      EXPECT_TRUE(ListSessions(server.NewChannel(), token).ok());
    }

    // The drain's audit line names the user behind the socket.
    v1::DrainResponse drained;
    ASSERT_TRUE(v1::AdminService::NewStub(SocketChannel(path))
                    ->Drain(Ctx().get(), {}, &drained)
                    .ok());
    EXPECT_THAT(server.log().Matching({"admin_drain", "admin socket",
                                       absl::StrCat("uid ", geteuid())}),
                SizeIs(1));
    server.server().Shutdown();
    EXPECT_FALSE(Exists(path)) << "the socket is removed at shutdown";
  }
}

TEST(AdminSocketTest, AStaleSocketIsReplaced) {
  TempDir dir;
  const std::string path = dir.File("admin.sock");
  {
    // A socket bound and never listened on: what a killed server leaves.
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    close(fd);
  }
  ASSERT_TRUE(Exists(path));
  TestServer server(WithSocket(path));
  EXPECT_TRUE(ListSessions(SocketChannel(path)).ok());
}

TEST(AdminSocketTest, RefusesALiveSocketAFileAndUnsafeDirectories) {
  TempDir dir;
  const std::string path = dir.File("admin.sock");
  {
    TestServer first(WithSocket(path));
    EXPECT_THAT(Server::Start(WithSocket(path)).status(),
                StatusIs(absl::StatusCode::kAlreadyExists,
                         HasSubstr("another server is accepting")));
    // The first server's socket still works.
    EXPECT_TRUE(ListSessions(SocketChannel(path)).ok());
  }

  const std::string file = dir.File("not-a-socket");
  std::ofstream(file) << "keep me\n";
  EXPECT_THAT(Server::Start(WithSocket(file)).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not a socket")));
  EXPECT_TRUE(S_ISREG(ModeOf(file)));

  const std::string open_dir = dir.File("open");
  ASSERT_EQ(mkdir(open_dir.c_str(), 0700), 0);
  ASSERT_EQ(chmod(open_dir.c_str(), 0777), 0);
  EXPECT_THAT(Server::Start(WithSocket(open_dir + "/admin.sock")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("writable by its group or others")));

  EXPECT_THAT(Server::Start(WithSocket(dir.File(std::string(120, 'x')))).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("longer than")));

  if (geteuid() == 0) {
    const std::string foreign = dir.File("foreign");
    ASSERT_EQ(mkdir(foreign.c_str(), 0700), 0);
    ASSERT_EQ(chown(foreign.c_str(), 65534, 65534), 0);
    EXPECT_THAT(Server::Start(WithSocket(foreign + "/admin.sock")).status(),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("belongs to uid")));
  }
}

// Connects to `path` as uid/gid 65534 in a child process and reports what the server
// did: 0 when it closed the connection without a byte (refused before gRPC), 1 when
// bytes came (gRPC's SETTINGS: handed over), 2 when nothing happened within 10 s, 3
// when the child could not set up.
int ConnectAsNobody(const std::string& path) {
  const pid_t pid = fork();
  if (pid == 0) {
    // Only async-signal-safe calls in the child of a threaded process.
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(3);
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size());
    if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      _exit(3);
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 10000) != 1) _exit(2);
    char byte;
    _exit(read(fd, &byte, 1) == 0 ? 0 : 1);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

TEST(AdminSocketTest, AnotherUsersConnectionIsClosedBeforeGrpcSeesIt) {
  if (geteuid() != 0) {
    GTEST_SKIP() << "needs root, to connect as another user (uid 65534)";
  }
  TempDir dir;
  // Loosened so that uid 65534 can reach the socket at all: the SO_PEERCRED check
  // must refuse it by itself.
  ASSERT_EQ(chmod(dir.path().c_str(), 0711), 0);
  const std::string path = dir.File("admin.sock");
  TestServer server(WithSocket(path));
  ASSERT_EQ(chmod(path.c_str(), 0666), 0);
  EXPECT_EQ(ConnectAsNobody(path), 0);
  EXPECT_THAT(server.log().Matching({"admin_socket_refused", "uid=65534"}), SizeIs(1));
  // Our own user is still served.
  EXPECT_TRUE(ListSessions(SocketChannel(path)).ok());
}

TEST(AdminSocketTest, CallerOfTrustsOnlyConnectionsOnItsOwnSocket) {
  TempDir dir;
  AdminSocket socket(nullptr);
  ASSERT_TRUE(socket.Listen(dir.File("a.sock")).ok());
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  const int tcp = ::socket(AF_INET, SOCK_STREAM, 0);
  for (const std::string& peer :
       {absl::StrCat("fd:", pair[0]), absl::StrCat("fd:", tcp), std::string("fd:999999"),
        std::string("fd:-1"), std::string("ipv4:127.0.0.1:5"), std::string("unix:"),
        std::string("")}) {
    SCOPED_TRACE(peer);
    EXPECT_FALSE(socket.CallerOf(peer).has_value());
  }
  close(pair[0]);
  close(pair[1]);
  close(tcp);
}

TEST(AdminSocketTest, AutoUsesTheDefaultPathAndFailsSoftly) {
  TempDir dir;
  const char* saved = std::getenv("XDG_RUNTIME_DIR");
  const std::string saved_value = saved != nullptr ? saved : "";
  ASSERT_EQ(setenv("XDG_RUNTIME_DIR", dir.path().c_str(), 1), 0);
  {
    ServerOptions options = WithSocket(kAdminSocketAuto);
    TestServer server(options);
    const std::string expected =
        absl::StrCat(dir.path(), "/semaphored/", server.server().port(), ".sock");
    EXPECT_EQ(DefaultAdminSocketPath(server.server().port()), expected);
    EXPECT_EQ(server.server().admin_socket_path(), expected);
    EXPECT_EQ(ModeOf(dir.File("semaphored")) & 07777, 0700);
    EXPECT_TRUE(ListSessions(SocketChannel(expected)).ok());
  }
  // Where the default place cannot be used, the server starts without a socket.
  std::filesystem::remove_all(dir.File("semaphored"));
  std::ofstream(dir.File("semaphored")) << "in the way\n";
  {
    TestServer server(WithSocket(kAdminSocketAuto));
    EXPECT_EQ(server.server().admin_socket_path(), "");
    EXPECT_THAT(server.log().Matching({"admin_socket_unavailable", "not a directory"}),
                SizeIs(1));
  }
  if (saved != nullptr) {
    setenv("XDG_RUNTIME_DIR", saved_value.c_str(), 1);
  } else {
    unsetenv("XDG_RUNTIME_DIR");
  }
}

}  // namespace
}  // namespace semaphored::server::testing
