// TLS on the gRPC listener, with certificates made at test time by openssl
// (test_certs.h): TLS works, a plaintext client and a client trusting another CA are
// refused, and with mutual TLS a client needs a certificate from the client CA.
// Also the loading of TLS files and of the admin token file (server_config.h).

#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "semaphored/v1/admin.grpc.pb.h"
#include "server/server_config.h"
#include "tests/server/test_certs.h"
#include "tests/server/test_server.h"

namespace semaphored::server::testing {
namespace {

using ::testing::HasSubstr;
using Code = grpc::StatusCode;

// Refused connections fail fast (no wait_for_ready); this bounds them anyway.
constexpr absl::Duration kRefusedDeadline = absl::Seconds(10);

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { certs_ = new TestCerts; }
  static void TearDownTestSuite() {
    delete certs_;
    certs_ = nullptr;
  }

  void SetUp() override { ASSERT_TRUE(certs_->ok()); }

  static ServerOptions TlsOptionsFor(bool mutual) {
    ServerOptions options = TestServerOptions();
    options.tls.cert_chain_pem = certs_->CertPem("server");
    options.tls.private_key_pem = certs_->KeyPem("server");
    if (mutual) options.tls.client_ca_pem = certs_->CertPem("ca");
    options.admin_token = kTestAdminToken;
    return options;
  }

  // A TLS channel trusting `ca`, presenting `client` ("" for no certificate). With
  // `server_name`, the server's certificate must be valid for that name instead of
  // the target's host (a name the test need not resolve).
  static std::shared_ptr<grpc::Channel> TlsChannel(const std::string& target,
                                                   const std::string& ca,
                                                   const std::string& client = "",
                                                   const std::string& server_name = "") {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = certs_->CertPem(ca);
    if (!client.empty()) {
      ssl.pem_cert_chain = certs_->CertPem(client);
      ssl.pem_private_key = certs_->KeyPem(client);
    }
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    if (!server_name.empty()) args.SetSslTargetNameOverride(server_name);
    return grpc::CreateCustomChannel(target, grpc::SslCredentials(ssl), args);
  }

  static grpc::Status Ping(const std::shared_ptr<grpc::Channel>& channel,
                           absl::Duration deadline = kRpcDeadline) {
    v1::PingResponse response;
    return v1::SemaphoreService::NewStub(channel)->Ping(Ctx(deadline).get(), {},
                                                       &response);
  }

  static TestCerts* certs_;
};

TestCerts* TlsTest::certs_ = nullptr;

TEST_F(TlsTest, ClientsTrustingTheCaAreServed) {
  TestServer server(TlsOptionsFor(/*mutual=*/false));
  const std::string port = std::to_string(server.server().port());
  // The certificate's IP and DNS subjectAltNames both work.
  EXPECT_TRUE(Ping(TlsChannel("127.0.0.1:" + port, "ca")).ok());
  EXPECT_TRUE(Ping(TlsChannel("127.0.0.1:" + port, "ca", "", "localhost")).ok());
  // A name the certificate does not cover is refused.
  EXPECT_THAT(Ping(TlsChannel("127.0.0.1:" + port, "ca", "", "db.example.com"),
                   kRefusedDeadline),
              GrpcIs(Code::UNAVAILABLE));
  // A client certificate is accepted but not needed.
  EXPECT_TRUE(Ping(TlsChannel("127.0.0.1:" + port, "ca", "client")).ok());
  // A whole session works, and the admin service answers with the token.
  auto channel = TlsChannel("127.0.0.1:" + port, "ca");
  auto stub = v1::SemaphoreService::NewStub(channel);
  TestSession s = OpenSession(*stub, "tls-client");
  v1::SetSemaphoreResponse set;
  ASSERT_TRUE(stub->SetSemaphore(Ctx().get(), SetRequest(s, "x"), &set).ok());
  EXPECT_TRUE(set.acquired());
  v1::ListSessionsResponse sessions;
  ASSERT_TRUE(
      v1::AdminService::NewStub(channel)->ListSessions(TokenCtx().get(), {}, &sessions).ok());
  ASSERT_EQ(sessions.sessions_size(), 1);
  EXPECT_EQ(sessions.sessions(0).client_name(), "tls-client");
}

TEST_F(TlsTest, PlaintextClientIsRefused) {
  TestServer server(TlsOptionsFor(/*mutual=*/false));
  auto plaintext = grpc::CreateChannel(server.server().address(),
                                       grpc::InsecureChannelCredentials());
  EXPECT_THAT(Ping(plaintext, kRefusedDeadline), GrpcIs(Code::UNAVAILABLE));
}

TEST_F(TlsTest, ClientTrustingAnotherCaIsRefused) {
  TestServer server(TlsOptionsFor(/*mutual=*/false));
  EXPECT_THAT(Ping(TlsChannel(server.server().address(), "other_ca"), kRefusedDeadline),
              GrpcIs(Code::UNAVAILABLE));
}

TEST_F(TlsTest, MutualTlsNeedsAClientCertificateFromTheClientCa) {
  TestServer server(TlsOptionsFor(/*mutual=*/true));
  const std::string address = server.server().address();
  EXPECT_THAT(Ping(TlsChannel(address, "ca"), kRefusedDeadline),
              GrpcIs(Code::UNAVAILABLE));
  EXPECT_THAT(Ping(TlsChannel(address, "ca", "other_client"), kRefusedDeadline),
              GrpcIs(Code::UNAVAILABLE));
  auto plaintext = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  EXPECT_THAT(Ping(plaintext, kRefusedDeadline), GrpcIs(Code::UNAVAILABLE));
  EXPECT_TRUE(Ping(TlsChannel(address, "ca", "client")).ok());
}

TEST_F(TlsTest, UnusableCertificateFailsTheStart) {
  ServerOptions garbage = TlsOptionsFor(false);
  garbage.tls.cert_chain_pem =
      "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n";
  absl::StatusOr<std::unique_ptr<Server>> started = Server::Start(garbage);
  EXPECT_FALSE(started.ok());
  ServerOptions mismatched = TlsOptionsFor(false);
  mismatched.tls.private_key_pem = certs_->KeyPem("client");
  started = Server::Start(mismatched);
  EXPECT_FALSE(started.ok());
}

TEST_F(TlsTest, LoadTlsFiles) {
  absl::StatusOr<TlsOptions> plain = LoadTlsFiles("", "", "");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->enabled());
  absl::StatusOr<TlsOptions> mutual =
      LoadTlsFiles(certs_->Cert("server"), certs_->Key("server"), certs_->Cert("ca"));
  ASSERT_TRUE(mutual.ok()) << mutual.status();
  EXPECT_TRUE(mutual->enabled());
  EXPECT_EQ(mutual->cert_chain_pem, certs_->CertPem("server"));
  EXPECT_EQ(mutual->private_key_pem, certs_->KeyPem("server"));
  EXPECT_EQ(mutual->client_ca_pem, certs_->CertPem("ca"));

  struct Case {
    std::string label, cert, key, ca, message;
  };
  const std::string missing = certs_->dir() + "/missing.pem";
  const std::vector<Case> cases = {
      {"cert without key", certs_->Cert("server"), "", "", "--tls_key"},
      {"key without cert", "", certs_->Key("server"), "", "--tls_cert"},
      {"client CA alone", "", "", certs_->Cert("ca"), "--tls_client_ca"},
      {"missing file", missing, certs_->Key("server"), "", "missing.pem"},
      {"key is a certificate", certs_->Cert("server"), certs_->Cert("server"), "",
       "--tls_key does not hold a PEM private key"},
      {"cert is a key", certs_->Key("server"), certs_->Key("server"), "",
       "--tls_cert does not hold"},
      {"CA is a key", certs_->Cert("server"), certs_->Key("server"), certs_->Key("ca"),
       "--tls_client_ca does not hold"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    absl::StatusOr<TlsOptions> tls = LoadTlsFiles(c.cert, c.key, c.ca);
    ASSERT_FALSE(tls.ok());
    EXPECT_EQ(tls.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(tls.status().message()), HasSubstr(c.message));
  }
}

TEST_F(TlsTest, ReadAdminTokenFile) {
  constexpr char kTok[] = "tok3n-0123456789abcdefghij";
  struct Case {
    std::string label, contents;
    bool ok;
    std::string token_or_message;
  };
  const std::vector<Case> cases = {
      {"newline", std::string(kTok) + "\n", true, kTok},
      {"CRLF", std::string(kTok) + "\r\n", true, kTok},
      {"no newline", kTok, true, kTok},
      {"several newlines", std::string(kTok) + "\n\n", true, kTok},
      {"inner space", "a b c d e f g h i j k l", true, "a b c d e f g h i j k l"},
      {"too short", "tok3n\n", false, "128 bits"},
      {"empty", "", false, "empty"},
      {"only a newline", "\n", false, "empty"},
      {"two lines", "a\nb\n", false, "printable ASCII"},
      {"control character", "a\tb", false, "printable ASCII"},
      {"trailing space", std::string(kTok) + " \n", false, "space"},
  };
  const std::string path = certs_->dir() + "/token";
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    {
      std::ofstream out(path, std::ios::trunc | std::ios::binary);
      out << c.contents;
    }
    ASSERT_EQ(chmod(path.c_str(), 0600), 0);
    absl::StatusOr<std::string> token = ReadAdminTokenFile(path);
    ASSERT_EQ(token.ok(), c.ok) << token.status();
    if (c.ok) {
      EXPECT_EQ(*token, c.token_or_message);
    } else {
      EXPECT_THAT(std::string(token.status().message()), HasSubstr(c.token_or_message));
    }
  }
  // A token file others may read or write is refused, whatever it holds.
  for (const mode_t mode : {0640, 0604, 0620, 0602, 0644, 0666}) {
    SCOPED_TRACE(mode);
    {
      std::ofstream out(path, std::ios::trunc | std::ios::binary);
      out << kTok << "\n";
    }
    ASSERT_EQ(chmod(path.c_str(), mode), 0);
    absl::StatusOr<std::string> token = ReadAdminTokenFile(path);
    ASSERT_FALSE(token.ok());
    EXPECT_THAT(std::string(token.status().message()),
                ::testing::AllOf(HasSubstr("group or others"), HasSubstr("chmod 600")));
  }
  for (const mode_t mode : {0600, 0400, 0700}) {
    SCOPED_TRACE(mode);
    ASSERT_EQ(chmod(path.c_str(), mode), 0);
    EXPECT_TRUE(ReadAdminTokenFile(path).ok());
  }
  absl::StatusOr<std::string> missing = ReadAdminTokenFile(certs_->dir() + "/nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("nope"));
}

}  // namespace
}  // namespace semaphored::server::testing
