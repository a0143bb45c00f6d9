// Loading the server's secrets and certificates from files.

#include "server/server_config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/local_admin.h"

namespace semaphored::server {

using ::semaphored::internal::IsLoopbackHost;
namespace {

constexpr size_t kMaxTokenBytes = 4096;
// 128 bits: 32 hex digits (4 bits each) or 22 characters of base64 (6 bits each: 132).
// The server cannot measure randomness; the rule only refuses what is certainly short.
constexpr size_t kMinHexTokenChars = 32;
constexpr size_t kMinTokenChars = 22;
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

// Reads a secret: the file must not be readable or writable by its group or others.
// The mode is read from the opened descriptor, so it is that of the file read.
absl::StatusOr<std::string> ReadPrivateFile(const std::string& path, absl::string_view what) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read ", what, " file \"", path,
                                                   "\": ", std::strerror(errno)));
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(what, " \"", path, "\" is not a regular file"));
  }
  if ((st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) != 0) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s \"%s\" is readable or writable by its group or others (mode %04o): they "
        "could read the admin token or change it; run `chmod 600 %s` (in Kubernetes, "
        "mount the secret with defaultMode: 0400)",
        what, path, st.st_mode & 07777, path));
  }
  std::string contents;
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || contents.size() + static_cast<size_t>(std::max<ssize_t>(n, 0)) >
                     static_cast<size_t>(kMaxFileBytes)) {
      close(fd);
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot read ", what, " file \"", path, "\": unreadable or larger than 1 MiB"));
    }
    if (n == 0) break;
    contents.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return contents;
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
  if (!token.empty()) {
    const bool hex_only = std::all_of(token.begin(), token.end(), [](char c) {
      return absl::ascii_isxdigit(static_cast<unsigned char>(c));
    });
    const size_t needed = hex_only ? kMinHexTokenChars : kMinTokenChars;
    if (token.size() < needed) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the admin token from ", source, " is too short (", token.size(),
          " characters): an admin token must carry at least 128 bits, that is at least ",
          kMinHexTokenChars, " characters when made of hex digits only, else at least ",
          kMinTokenChars,
          " (as base64, 6 bits each); make one with `openssl rand -hex 16` or "
          "`openssl rand -base64 32`"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadAdminTokenFile(const std::string& path) {
  absl::StatusOr<std::string> contents = ReadPrivateFile(path, "--admin_token_file");
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

std::optional<std::string> PlaintextTokenWarning(absl::string_view listen_host, bool tls,
                                                 bool has_token) {
  if (!has_token || tls || IsLoopbackHost(listen_host)) return std::nullopt;
  return absl::StrCat(
      "the admin token is sent in clear text to this listener on ", listen_host,
      ", which is not loopback: anyone on the network path can read it and become "
      "admin; enable TLS (--tls_cert, --tls_key), or listen on loopback and "
      "administer through the admin socket");
}

std::shared_ptr<grpc::ServerCredentials> GrpcServerCredentials(const TlsOptions& tls) {
  if (!tls.enabled()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl(
      tls.client_ca_pem.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = tls.client_ca_pem;
  ssl.pem_key_cert_pairs.push_back({tls.private_key_pem, tls.cert_chain_pem});
  return grpc::SslServerCredentials(ssl);
}

}  // namespace semaphored::server
