#include "server/server_config.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace semaphored::internal {
namespace {

constexpr size_t kMaxTokenBytes = 4096;
// Certificates and keys are small; a larger file is almost certainly the wrong one.
constexpr std::streamoff kMaxFileBytes = 1 << 20;

absl::Status ExpectPem(absl::string_view pem, absl::string_view block,
                       absl::string_view flag) {
  if (absl::StrContains(pem, absl::StrCat("-----BEGIN ", block))) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      flag, " does not hold a PEM \"", block, "\" block (-----BEGIN ", block,
      "-----); give a PEM file"));
}

absl::Status ExpectPemKey(absl::string_view pem) {
  // "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"...
  if (absl::StrContains(pem, "-----BEGIN ") && absl::StrContains(pem, "PRIVATE KEY-----")) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      "--tls_key does not hold a PEM private key (-----BEGIN PRIVATE KEY-----); give "
      "the server certificate's key as a PEM file");
}

}  // namespace

absl::StatusOr<std::string> ReadTextFile(const std::string& path, absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read ", what, " file \"", path,
                                                   "\": ", std::strerror(errno)));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad() || contents.tellp() > kMaxFileBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot read ", what, " file \"", path, "\": unreadable or larger than 1 MiB"));
  }
  return contents.str();
}

absl::Status ValidateTls(const TlsOptions& tls) {
  if (tls.cert_chain_pem.empty() != tls.private_key_pem.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both --tls_cert and --tls_key (or neither, for plaintext)");
  }
  if (!tls.client_ca_pem.empty() && tls.cert_chain_pem.empty()) {
    return absl::InvalidArgumentError(
        "--tls_client_ca (mutual TLS) needs --tls_cert and --tls_key too");
  }
  if (!tls.enabled()) return absl::OkStatus();
  if (absl::Status s = ExpectPem(tls.cert_chain_pem, "CERTIFICATE", "--tls_cert"); !s.ok())
    return s;
  if (absl::Status s = ExpectPemKey(tls.private_key_pem); !s.ok()) return s;
  if (!tls.client_ca_pem.empty()) {
    return ExpectPem(tls.client_ca_pem, "CERTIFICATE", "--tls_client_ca");
  }
  return absl::OkStatus();
}

absl::StatusOr<TlsOptions> LoadTlsFiles(const std::string& cert_path,
                                        const std::string& key_path,
                                        const std::string& client_ca_path) {
  if (cert_path.empty() != key_path.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both --tls_cert and --tls_key (or neither, for plaintext)");
  }
  if (!client_ca_path.empty() && cert_path.empty()) {
    return absl::InvalidArgumentError(
        "--tls_client_ca (mutual TLS) needs --tls_cert and --tls_key too");
  }
  TlsOptions tls;
  if (cert_path.empty()) return tls;
  absl::StatusOr<std::string> cert = ReadTextFile(cert_path, "--tls_cert");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadTextFile(key_path, "--tls_key");
  if (!key.ok()) return key.status();
  tls.cert_chain_pem = *std::move(cert);
  tls.private_key_pem = *std::move(key);
  if (!client_ca_path.empty()) {
    absl::StatusOr<std::string> ca = ReadTextFile(client_ca_path, "--tls_client_ca");
    if (!ca.ok()) return ca.status();
    tls.client_ca_pem = *std::move(ca);
  }
  if (absl::Status s = ValidateTls(tls); !s.ok()) return s;
  return tls;
}

absl::Status ValidateAdminToken(absl::string_view token, absl::string_view source) {
  if (token.size() > kMaxTokenBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the admin token from ", source, " is longer than ", kMaxTokenBytes,
                     " bytes"));
  }
  for (char c : token) {
    if (c < 0x20 || c > 0x7e) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the admin token from ", source,
          " holds a character other than printable ASCII; use for example the output "
          "of `openssl rand -hex 32`"));
    }
  }
  if (!token.empty() && (token.front() == ' ' || token.back() == ' ')) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the admin token from ", source, " starts or ends with a space"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadAdminTokenFile(const std::string& path) {
  absl::StatusOr<std::string> contents = ReadTextFile(path, "--admin_token_file");
  if (!contents.ok()) return contents.status();
  absl::string_view token = *contents;
  // Trailing line ends only (a file written by `echo` or an editor).
  while (absl::ConsumeSuffix(&token, "\n")) absl::ConsumeSuffix(&token, "\r");
  if (token.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--admin_token_file \"", path, "\" is empty"));
  }
  if (absl::Status s = ValidateAdminToken(token, "--admin_token_file"); !s.ok()) return s;
  return std::string(token);
}

}  // namespace semaphored::internal
