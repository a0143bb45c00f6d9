// A small application built against the INSTALLED semaphored client library: two
// sessions share a local '$' semaphore through the public API (RAII Permit, the 4D
// facade, Test), and a connection to an address where no server listens fails with a
// clear error. Prints one line per step; tests/install/install_test.sh compares the
// output with expected_output.txt. Exits 1 when a call fails unexpectedly.

#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "semaphored/semaphored.h"

namespace {

constexpr char kName[] = "$consumer";

const char* YesNo(bool b) { return b ? "yes" : "no"; }

template <typename T>
T OrDie(absl::StatusOr<T> value, const char* what) {
  if (!value.ok()) {
    std::cout << what << " failed: " << value.status() << "\n";
    std::exit(1);
  }
  return *std::move(value);
}

}  // namespace

int main() {
  std::cout << std::boolalpha;
  std::unique_ptr<semaphored::Client> client = semaphored::Client::Local();
  semaphored::SessionOptions first_options;
  first_options.client_name = "first";
  auto first = OrDie(client->OpenSession(first_options), "OpenSession(first)");
  semaphored::SessionOptions second_options;
  second_options.client_name = "second";
  auto second = OrDie(client->OpenSession(second_options), "OpenSession(second)");

  {
    semaphored::Permit permit = OrDie(first->Acquire(kName), "Acquire");
    std::cout << "first session acquires " << kName << ": " << YesNo(permit.acquired())
              << ", permits " << permit.permits()
              << ", fencing token > 0: " << YesNo(permit.fencing_token() > 0) << "\n";

    semaphored::Permit other = OrDie(second->Acquire(kName), "Acquire (second)");
    std::cout << "second session tries: acquired " << YesNo(other.acquired())
              << ", holder is the first session: "
              << YesNo(other.state().holders.size() == 1 &&
                       other.state().holders[0].session_id == first->local_id() &&
                       other.state().holders[0].client_name == "first")
              << "\n";
    std::cout << "4D Semaphore from the second session (1 tick): "
              << semaphored::Semaphore(*second, kName, 1) << " (already set)\n";
    std::cout << "TestSemaphore: " << semaphored::TestSemaphore(*second, kName) << "\n";
  }  // The Permit releases the semaphore here.
  std::cout << "the first session's Permit is destroyed\n";

  semaphored::SemaphoreInfo info = OrDie(second->Test(kName), "Test");
  std::cout << "Test after release: set " << YesNo(info.set) << ", holders "
            << info.holders.size() << "\n";
  std::cout << "4D Semaphore from the second session: "
            << semaphored::Semaphore(*second, kName) << " (it now holds it)\n";
  std::cout << "TestSemaphore: " << semaphored::TestSemaphore(*first, kName) << "\n";
  absl::Status cleared;
  semaphored::ClearSemaphore(*second, kName, &cleared);
  std::cout << "4D ClearSemaphore: " << (cleared.ok() ? "ok" : cleared.ToString())
            << ", TestSemaphore: " << semaphored::TestSemaphore(*first, kName) << "\n";

  absl::StatusOr<semaphored::Permit> bad = first->Acquire("");
  std::cout << "Acquire of an empty name: "
            << absl::StatusCodeToString(bad.status().code()) << "\n";

  semaphored::ClientOptions options;
  options.address = "127.0.0.1:1";  // nothing listens on port 1
  options.connect_timeout = absl::Seconds(1);
  absl::StatusOr<std::unique_ptr<semaphored::Client>> remote =
      semaphored::Client::Connect(options);
  std::cout << "Connect to 127.0.0.1:1: "
            << absl::StatusCodeToString(remote.status().code())
            << ", says it cannot connect to that address: "
            << YesNo(std::string(remote.status().message())
                         .find("cannot connect to 127.0.0.1:1") != std::string::npos)
            << "\n";

  std::cout << "close: " << first->Close() << " / " << second->Close() << "\n";
  return 0;
}
