// The gRPC transport limits (server/transport_limits.h) reach a real server on
// loopback: each test sets one limit low and shows what a client then meets. Every
// wait is bounded.

#include "server/transport_limits.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "tests/common/status_matchers.h"
#include "tests/server/test_server.h"

namespace semaphored::server::testing {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using ::semaphored::testing::IsOk;
using ::semaphored::testing::StatusIs;
using ::testing::HasSubstr;
using Code = grpc::StatusCode;

ServerOptions WithTransport(const TransportLimits& transport) {
  ServerOptions options = TestServerOptions();
  options.transport = transport;
  return options;
}

// A channel (its own connection) to `server` with extra arguments.
std::shared_ptr<grpc::Channel> ChannelWith(TestServer& server,
                                           grpc::ChannelArguments args) {
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(server.server().address(),
                                   grpc::InsecureChannelCredentials(), args);
}

grpc::Status Ping(const std::shared_ptr<grpc::Channel>& channel,
                  grpc::ClientContext& context) {
  v1::PingResponse response;
  return v1::SemaphoreService::NewStub(channel)->Ping(&context, v1::PingRequest(),
                                                      &response);
}

// A health Watch: a call that stays open, answered at once with the first status.
class Watch {
 public:
  Watch(const std::shared_ptr<grpc::Channel>& channel,
        absl::Duration deadline = kRpcDeadline)
      : context_(Ctx(deadline)),
        stub_(Health::NewStub(channel)),
        reader_(stub_->Watch(context_.get(), HealthCheckRequest())) {}
  ~Watch() {
    if (finished_) return;
    context_->TryCancel();
    Finish();
  }
  // Whether the next status arrived (false: the call ended, or its deadline passed).
  bool Next() {
    HealthCheckResponse response;
    return reader_->Read(&response);
  }
  // Reads to the end; the call's status. Once only.
  grpc::Status Finish() {
    HealthCheckResponse response;
    while (reader_->Read(&response)) {
    }
    finished_ = true;
    return reader_->Finish();
  }

 private:
  bool finished_ = false;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<Health::Stub> stub_;
  std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> reader_;
};

TEST(TransportLimitsTest, DefaultsAreValidAndBadValuesNameTheirFlag) {
  EXPECT_THAT(ValidateTransportLimits(TransportLimits()), IsOk());
  const struct {
    void (*change)(TransportLimits&);
    const char* flag;
  } cases[] = {
      {[](TransportLimits& t) { t.max_concurrent_streams = 0; }, "--max_concurrent_streams"},
      {[](TransportLimits& t) { t.memory_quota_bytes = 1 << 20; }, "--grpc_memory_quota_bytes"},
      {[](TransportLimits& t) { t.max_threads = 1; }, "--grpc_max_threads"},
      {[](TransportLimits& t) { t.max_connection_idle = absl::ZeroDuration(); },
       "--max_connection_idle"},
      {[](TransportLimits& t) { t.max_connection_age = -absl::Seconds(1); },
       "--max_connection_age"},
      {[](TransportLimits& t) { t.min_ping_interval = absl::ZeroDuration(); },
       "--min_ping_interval"},
      {[](TransportLimits& t) { t.max_ping_strikes = -1; }, "--max_ping_strikes"},
      {[](TransportLimits& t) { t.handshake_timeout = absl::ZeroDuration(); },
       "--handshake_timeout"},
      {[](TransportLimits& t) { t.max_metadata_bytes = 100; }, "--max_metadata_bytes"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.flag);
    TransportLimits limits;
    c.change(limits);
    EXPECT_THAT(ValidateTransportLimits(limits),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.flag)));
    // The server refuses to start with them too.
    EXPECT_THAT(Server::Start(WithTransport(limits)).status(),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.flag)));
  }
}

// Streams beyond the limit on one connection wait for a free one (here until their
// deadline); another connection is not affected; a stream that ends frees its place.
TEST(TransportLimitsTest, StreamsBeyondTheConcurrentLimitWaitOnTheirConnection) {
  TransportLimits transport;
  transport.max_concurrent_streams = 2;
  TestServer server(WithTransport(transport));
  std::shared_ptr<grpc::Channel> channel = server.NewChannel();
  auto first = std::make_unique<Watch>(channel);
  Watch second(channel);
  ASSERT_TRUE(first->Next());
  ASSERT_TRUE(second.Next());

  Watch third(channel, absl::Milliseconds(500));
  EXPECT_FALSE(third.Next());
  EXPECT_THAT(third.Finish(), GrpcIs(Code::DEADLINE_EXCEEDED));

  Watch elsewhere(server.NewChannel());
  EXPECT_TRUE(elsewhere.Next());

  first.reset();  // cancelled: its place is free again
  Watch fourth(channel);
  EXPECT_TRUE(fourth.Next());
}

// A compressed request is refused when its headers arrive (its message is never
// inflated); with compression allowed the same call is served.
TEST(TransportLimitsTest, CompressedRequestsAreRefusedUnlessAllowed) {
  for (const bool allowed : {false, true}) {
    SCOPED_TRACE(allowed ? "allowed" : "refused");
    TransportLimits transport;
    transport.allow_compression = allowed;
    TestServer server(WithTransport(transport));
    for (grpc_compression_algorithm algorithm : {GRPC_COMPRESS_GZIP, GRPC_COMPRESS_DEFLATE}) {
      grpc::ChannelArguments args;
      args.SetCompressionAlgorithm(algorithm);
      std::shared_ptr<grpc::Channel> channel = ChannelWith(server, args);
      v1::CreateSessionRequest request;
      request.set_client_name(std::string(200, 'z'));  // compresses well
      v1::CreateSessionResponse response;
      grpc::Status status = v1::SemaphoreService::NewStub(channel)->CreateSession(
          Ctx().get(), request, &response);
      if (allowed) {
        EXPECT_TRUE(status.ok()) << status.error_message();
      } else {
        EXPECT_THAT(status, GrpcIs(Code::UNIMPLEMENTED, HasSubstr("is disabled")));
      }
    }
    // Nothing reached the core when refused.
    EXPECT_EQ(server.core().Counts().sessions, allowed ? 2 : 0);
  }
}

TEST(TransportLimitsTest, MetadataOverTheLimitIsRefused) {
  TransportLimits transport;
  transport.max_metadata_bytes = 2048;
  TestServer server(WithTransport(transport));
  std::shared_ptr<grpc::Channel> channel = server.NewChannel();
  {
    std::unique_ptr<grpc::ClientContext> context = Ctx();
    context->AddMetadata("x-pad", std::string(512, 'a'));
    EXPECT_TRUE(Ping(channel, *context).ok());
  }
  {
    std::unique_ptr<grpc::ClientContext> context = Ctx();
    context->AddMetadata("x-pad", std::string(4096, 'a'));
    grpc::Status status = Ping(channel, *context);
    EXPECT_EQ(status.error_code(), Code::RESOURCE_EXHAUSTED) << status.error_message();
  }
  // The server goes on serving. (gRPC 1.51 sometimes also closes the offending
  // connection, failing a call made on it at that moment: a new one is used.)
  grpc::Status status = Ping(server.NewChannel(), *Ctx());
  EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
}

// A connection without calls is closed after max_connection_idle (the channel goes
// back to IDLE); one with an open call is not.
TEST(TransportLimitsTest, IdleConnectionsAreClosedButNotOnesWithACall) {
  TransportLimits transport;
  transport.max_connection_idle = absl::Milliseconds(300);
  TestServer server(WithTransport(transport));

  std::shared_ptr<grpc::Channel> idle = server.NewChannel();
  ASSERT_TRUE(Ping(idle, *Ctx()).ok());
  ASSERT_EQ(idle->GetState(false), GRPC_CHANNEL_READY);
  EXPECT_TRUE(idle->WaitForStateChange(GRPC_CHANNEL_READY,
                                       absl::ToChronoTime(absl::Now() + absl::Seconds(10))));
  EXPECT_NE(idle->GetState(false), GRPC_CHANNEL_READY);

  std::shared_ptr<grpc::Channel> busy = server.NewChannel();
  Watch watch(busy);
  ASSERT_TRUE(watch.Next());
  // Three idle periods pass: the connection carrying the call stays up.
  EXPECT_FALSE(busy->WaitForStateChange(
      GRPC_CHANNEL_READY, absl::ToChronoTime(absl::Now() + absl::Milliseconds(900))));
  EXPECT_EQ(busy->GetState(false), GRPC_CHANNEL_READY);
}

// With a connection age, even a call that never ends is cut after age + grace.
TEST(TransportLimitsTest, ConnectionAgeEndsLongCallsAfterTheGrace) {
  TransportLimits transport;
  transport.max_connection_age = absl::Milliseconds(200);
  transport.max_connection_age_grace = absl::Milliseconds(200);
  TestServer server(WithTransport(transport));
  Watch watch(server.NewChannel());
  ASSERT_TRUE(watch.Next());
  EXPECT_THAT(watch.Finish(), GrpcIs(Code::UNAVAILABLE));
}

// A client pinging more often than min_ping_interval (with nothing sent back) is
// sent away after max_ping_strikes; one that pings slowly enough is not. (gRPC's
// client sends at most one ping a second, whatever its keepalive time.)
TEST(TransportLimitsTest, ClientsPingingTooOftenAreDisconnected) {
  for (const bool too_often : {true, false}) {
    SCOPED_TRACE(too_often ? "too often" : "slow enough");
    TransportLimits transport;
    transport.min_ping_interval = too_often ? absl::Seconds(10) : absl::Milliseconds(20);
    transport.max_ping_strikes = 1;
    TestServer server(WithTransport(transport));
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 100);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    std::shared_ptr<grpc::Channel> channel = ChannelWith(server, args);
    // The watch is the call that keeps pings legitimate; it ends with the connection.
    Watch watch(channel, absl::Seconds(5));
    ASSERT_TRUE(watch.Next());
    if (too_often) {
      EXPECT_THAT(watch.Finish(), GrpcIs(Code::UNAVAILABLE));
    } else {
      EXPECT_THAT(watch.Finish(), GrpcIs(Code::DEADLINE_EXCEEDED));  // ran its course
    }
  }
}

// A connection that never sends its HTTP/2 preface is closed at the handshake
// timeout.
TEST(TransportLimitsTest, SilentConnectionsAreClosedAtTheHandshakeTimeout) {
  TransportLimits transport;
  transport.handshake_timeout = absl::Milliseconds(300);
  TestServer server(WithTransport(transport));
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(server.server().port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  // The server sends its SETTINGS at once, then closes; bounded by 10 s.
  bool closed = false;
  size_t received = 0;
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (!closed && absl::Now() < give_up) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[256];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) closed = true;
    if (n > 0) received += static_cast<size_t>(n);
  }
  ::close(fd);
  EXPECT_TRUE(closed) << "the server did not close the connection";
  EXPECT_LT(received, 256u);  // its settings frame (and maybe a GOAWAY), nothing more
}

// Opens up to `count` server-reflection streams (a synchronous service: each open
// stream holds one of gRPC's threads) on one channel, one after another, each kept
// open once answered. Returns how many were answered before the first that was
// refused, and that one's status in `refused` (OK if none was).
int OpenReflectionStreams(TestServer& server, int count, grpc::Status* refused) {
  grpc::GenericStub stub(server.NewChannel());
  grpc::CompletionQueue cq;
  struct Stream {
    std::unique_ptr<grpc::ClientContext> context = Ctx();
    std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call;
  };
  std::vector<std::unique_ptr<Stream>> streams;
  // Waits for the event tagged `tag` (the only one in flight); its ok bit.
  auto await = [&cq](intptr_t tag) {
    void* got = nullptr;
    bool ok = false;
    const auto deadline = absl::ToChronoTime(absl::Now() + kRpcDeadline);
    while (cq.AsyncNext(&got, &ok, deadline) == grpc::CompletionQueue::GOT_EVENT) {
      if (reinterpret_cast<intptr_t>(got) == tag) return ok;
    }
    ADD_FAILURE() << "no event for tag " << tag;
    return false;
  };
  // A ServerReflectionRequest with list_services = "" (field 7).
  const std::string list_services("\x3a\x00", 2);
  grpc::Slice slice(list_services);
  *refused = grpc::Status::OK;
  int answered = 0;
  intptr_t tag = 1;
  for (int i = 0; i < count; ++i) {
    streams.push_back(std::make_unique<Stream>());
    Stream& s = *streams.back();
    s.call = stub.PrepareCall(s.context.get(),
                              "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                              &cq);
    s.call->StartCall(reinterpret_cast<void*>(tag));
    if (!await(tag++)) break;
    grpc::ByteBuffer request(&slice, 1);
    s.call->Write(request, reinterpret_cast<void*>(tag));
    await(tag++);
    grpc::ByteBuffer response;
    s.call->Read(&response, reinterpret_cast<void*>(tag));
    if (await(tag++)) {
      ++answered;
      continue;
    }
    s.call->Finish(refused, reinterpret_cast<void*>(tag));
    await(tag++);
    break;
  }
  for (auto& s : streams) s->context->TryCancel();
  streams.clear();
  cq.Shutdown();
  void* got = nullptr;
  bool ok = false;
  while (cq.Next(&got, &ok)) {
  }
  return answered;
}

// Synchronous calls (server reflection) beyond the thread limit are refused with
// RESOURCE_EXHAUSTED instead of starting more threads; the default leaves room.
TEST(TransportLimitsTest, SynchronousCallsBeyondTheThreadLimitAreRefused) {
  {
    TransportLimits transport;
    transport.max_threads = 4;
    TestServer server(WithTransport(transport));
    grpc::Status refused;
    const int answered = OpenReflectionStreams(server, 16, &refused);
    EXPECT_GE(answered, 1);
    EXPECT_LT(answered, 4);
    EXPECT_THAT(refused, GrpcIs(Code::RESOURCE_EXHAUSTED));
  }
  {
    TestServer server;  // default: 64 threads
    grpc::Status refused;
    EXPECT_EQ(OpenReflectionStreams(server, 16, &refused), 16);
    EXPECT_TRUE(refused.ok()) << refused.error_message();
  }
}

}  // namespace
}  // namespace semaphored::server::testing
