// grpc.health.v1.Health as served by semaphored (generated code, not gRPC's built-in
// health service).

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/server/test_server.h"

namespace semaphored::server::testing {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using Code = grpc::StatusCode;

constexpr char kService[] = "semaphored.v1.SemaphoreService";

class HealthTest : public ::testing::Test {
 protected:
  TestServer server_;
  std::unique_ptr<Health::Stub> health_ = Health::NewStub(server_.NewChannel());

  grpc::Status Check(const std::string& service, HealthCheckResponse* response) {
    HealthCheckRequest request;
    request.set_service(service);
    return health_->Check(Ctx().get(), request, response);
  }
};

TEST_F(HealthTest, CheckIsServingForTheServerAndTheService) {
  for (const std::string service : {"", kService}) {
    SCOPED_TRACE(service);
    HealthCheckResponse response;
    ASSERT_TRUE(Check(service, &response).ok());
    EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
  }
}

TEST_F(HealthTest, CheckSaysASingleServerIsOneInItsTrailingMetadata) {
  HealthCheckRequest request;
  HealthCheckResponse response;
  std::unique_ptr<grpc::ClientContext> context = Ctx();
  ASSERT_TRUE(health_->Check(context.get(), request, &response).ok());
  const auto& trailers = context->GetServerTrailingMetadata();
  auto role = trailers.find("semaphored-role");
  ASSERT_NE(role, trailers.end());
  EXPECT_EQ(std::string(role->second.data(), role->second.size()), "single");
  EXPECT_EQ(trailers.count("semaphored-leader"), 0u);
}

TEST_F(HealthTest, CheckOfAnUnknownServiceIsNotFound) {
  HealthCheckResponse response;
  EXPECT_THAT(Check("no.such.Service", &response),
              GrpcIs(Code::NOT_FOUND, ::testing::HasSubstr("no.such.Service")));
}

TEST_F(HealthTest, CheckIsNotServingAfterDrain) {
  server_.server().Drain();
  server_.server().Drain();  // idempotent
  for (const std::string service : {"", kService}) {
    SCOPED_TRACE(service);
    HealthCheckResponse response;
    ASSERT_TRUE(Check(service, &response).ok());
    EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  }
}

TEST_F(HealthTest, WatchStreamsTheChangeToNotServing) {
  auto context = Ctx();
  HealthCheckRequest request;
  request.set_service(kService);
  std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> reader =
      health_->Watch(context.get(), request);
  HealthCheckResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
  server_.server().Drain();
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  context->TryCancel();
  while (reader->Read(&response)) {
  }
  EXPECT_THAT(reader->Finish(), GrpcIs(Code::CANCELLED));
}

TEST_F(HealthTest, WatchOfAnUnknownServiceSaysSoAndStaysOpen) {
  auto context = Ctx();
  HealthCheckRequest request;
  request.set_service("no.such.Service");
  std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> reader =
      health_->Watch(context.get(), request);
  HealthCheckResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVICE_UNKNOWN);
  // Ended by the server's shutdown, which does not wait for the watch.
  server_.server().Shutdown();
  while (reader->Read(&response)) {
    EXPECT_EQ(response.status(), HealthCheckResponse::SERVICE_UNKNOWN);
  }
  EXPECT_THAT(reader->Finish(),
              GrpcIs(Code::UNAVAILABLE, ::testing::HasSubstr("shutting down")));
}

TEST_F(HealthTest, ShutdownEndsWatchesAndCompletes) {
  auto context = Ctx();
  HealthCheckRequest request;
  std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> reader =
      health_->Watch(context.get(), request);
  HealthCheckResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
  server_.server().Shutdown();
  server_.server().Wait();  // returns at once after Shutdown
  std::vector<HealthCheckResponse::ServingStatus> seen;
  while (reader->Read(&response)) seen.push_back(response.status());
  EXPECT_THAT(seen, ::testing::ElementsAre(HealthCheckResponse::NOT_SERVING));
  // UNAVAILABLE is the health service's own ending; a watch left to the end of the
  // shutdown grace period would be CANCELLED instead.
  EXPECT_THAT(reader->Finish(), GrpcIs(Code::UNAVAILABLE));
}

}  // namespace
}  // namespace semaphored::server::testing
