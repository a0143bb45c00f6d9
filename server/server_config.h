#ifndef SEMAPHORED_SERVER_SERVER_CONFIG_H_
#define SEMAPHORED_SERVER_SERVER_CONFIG_H_

// Loading the server's secrets and certificates from files, for main() and tests.
// Plain C++ (no gRPC). Thread-compatible pure functions apart from reading files.

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/security/server_credentials.h"

namespace semaphored::server {

// TLS material, as PEM text. All empty: plaintext.
struct TlsOptions {
  std::string cert_chain_pem;   // the server's certificate (chain)
  std::string private_key_pem;  // its private key
  std::string client_ca_pem;    // non-empty: mutual TLS, clients need a cert from it
  bool enabled() const { return !cert_chain_pem.empty(); }
};

// The contents of the file at `path`. `what` names it in errors (e.g.
// "--tls_cert"): INVALID_ARGUMENT "cannot read --tls_cert file PATH: REASON".
absl::StatusOr<std::string> ReadTextFile(const std::string& path, absl::string_view what);

// Reads the files named by --tls_cert, --tls_key and --tls_client_ca (empty paths:
// not given). No paths at all: plaintext (TlsOptions{}). INVALID_ARGUMENT when only
// one of cert and key is given, when a client CA is given without them, when a file
// cannot be read, or when a file does not hold what it should (see ValidateTls).
absl::StatusOr<TlsOptions> LoadTlsFiles(const std::string& cert_path,
                                        const std::string& key_path,
                                        const std::string& client_ca_path);

// Checks TLS material as far as possible without parsing it: cert and key both set
// or both empty; each holds a PEM block of the right kind ("CERTIFICATE",
// "... PRIVATE KEY"); no client CA without a certificate. INVALID_ARGUMENT naming
// the flag otherwise. (gRPC checks the rest when the server starts.)
absl::Status ValidateTls(const TlsOptions& tls);

// The admin token from --admin_token_file: the file's contents without trailing
// newlines ("\n" or "\r\n"). INVALID_ARGUMENT when unreadable, not a regular file,
// readable or writable by its group or others (the message says `chmod 600`), empty,
// or refused by ValidateAdminToken.
absl::StatusOr<std::string> ReadAdminTokenFile(const std::string& path);

// Checks an admin token from any source: printable ASCII without leading or trailing
// spaces, at most 4096 bytes, and (unless empty: no token) at least 128 bits by length:
// at least 32 characters when all are hex digits, else at least 22 (base64's 6 bits
// each). INVALID_ARGUMENT saying the rule; `source` names the token ("--admin_token").
absl::Status ValidateAdminToken(absl::string_view token, absl::string_view source);

// The startup warning for an admin token sent in clear text: when there is a token, no
// TLS, and the listen host (as in --listen, "[::]" bracketed or not) is not this
// machine's loopback (IsLoopbackHost: wildcard addresses and names are not). nullopt
// when there is nothing to warn about.
std::optional<std::string> PlaintextTokenWarning(absl::string_view listen_host, bool tls,
                                                 bool has_token);

// The credentials every gRPC listener of the server uses: plaintext, TLS, or mutual
// TLS when a client CA is given.
std::shared_ptr<grpc::ServerCredentials> GrpcServerCredentials(const TlsOptions& tls);

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_SERVER_CONFIG_H_
