#ifndef SEMAPHORED_TESTS_SERVER_TEST_CERTS_H_
#define SEMAPHORED_TESTS_SERVER_TEST_CERTS_H_

// Certificates made at test time with the openssl command-line tool, in a temporary
// directory removed afterwards: a CA, a server certificate for localhost and
// 127.0.0.1 (subjectAltName), a client certificate from the same CA, and a second,
// unrelated CA with a client certificate of its own. EC P-256 keys (fast to make),
// valid for two days.

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace semaphored::server::testing {

class TestCerts {
 public:
  TestCerts() {
    const char* tmp = std::getenv("TMPDIR");
    std::string dir_template =
        absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/semaphored-certs.XXXXXX");
    if (mkdtemp(dir_template.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp failed";
      return;
    }
    dir_ = dir_template;
    ok_ = MakeCa("ca", "semaphored test CA") && MakeCa("other_ca", "unrelated test CA") &&
          MakeLeaf("server", "ca", "localhost",
                   "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                   "extendedKeyUsage=serverAuth\n") &&
          MakeLeaf("client", "ca", "semaphored-test-client",
                   "extendedKeyUsage=clientAuth\n") &&
          MakeLeaf("other_client", "other_ca", "stranger",
                   "extendedKeyUsage=clientAuth\n");
  }
  ~TestCerts() {
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }
  TestCerts(const TestCerts&) = delete;
  TestCerts& operator=(const TestCerts&) = delete;

  // Whether every certificate was made.
  bool ok() const { return ok_; }
  // The path of NAME.pem (certificate) or NAME.key: "ca", "server", "client",
  // "other_ca", "other_client".
  std::string Cert(const std::string& name) const { return Path(name + ".pem"); }
  std::string Key(const std::string& name) const { return Path(name + ".key"); }
  std::string CertPem(const std::string& name) const { return Read(Cert(name)); }
  std::string KeyPem(const std::string& name) const { return Read(Key(name)); }
  const std::string& dir() const { return dir_; }

 private:
  std::string Path(const std::string& file) const { return absl::StrCat(dir_, "/", file); }

  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  }

  // Runs an openssl command line (its output goes to DIR/openssl.log).
  bool Run(const std::string& args) const {
    const std::string command = absl::StrCat("cd '", dir_, "' && openssl ", args,
                                             " >>openssl.log 2>&1");
    if (std::system(command.c_str()) == 0) return true;
    ADD_FAILURE() << "failed: openssl " << args << "\n" << Read(Path("openssl.log"));
    return false;
  }

  bool MakeCa(const std::string& name, const std::string& cn) const {
    return Run(absl::StrCat(
        "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
        "-keyout ",
        name, ".key -out ", name, ".pem -subj '/CN=", cn,
        "' -addext basicConstraints=critical,CA:TRUE "
        "-addext keyUsage=critical,keyCertSign,cRLSign"));
  }

  bool MakeLeaf(const std::string& name, const std::string& ca, const std::string& cn,
                const std::string& extensions) const {
    {
      std::ofstream ext(Path(name + ".ext"));
      ext << extensions;
    }
    return Run(absl::StrCat(
               "req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ",
               name, ".key -out ", name, ".csr -subj '/CN=", cn, "'")) &&
           Run(absl::StrCat("x509 -req -in ", name, ".csr -CA ", ca, ".pem -CAkey ", ca,
                            ".key -CAcreateserial -days 2 -out ", name, ".pem -extfile ",
                            name, ".ext"));
  }

  std::string dir_;
  bool ok_ = false;
};

}  // namespace semaphored::server::testing

#endif  // SEMAPHORED_TESTS_SERVER_TEST_CERTS_H_
