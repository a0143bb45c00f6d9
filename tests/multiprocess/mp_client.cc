// A holder process for the multi-process tests. It opens a session, sets one global
// semaphore and then obeys one-word commands on stdin, answering on stdout:
//   close  -> Session::Close()              answers "CLOSED <status>"
//   clear  -> Session::Clear(name)          answers "CLEAR <code> <message>"
//   status -> was the session reported lost answers "LOST <0|1> <status>"
//   exit   -> exits 0
// Usage: mp_client ADDRESS NAME TTL_MS. Exits by itself after 120 s.

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/synchronization/mutex.h"
#include "semaphored/client.h"

namespace {

void Say(const std::string& line) {
  std::cout << line << std::endl;  // flushes
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: mp_client ADDRESS NAME TTL_MS\n");
    return 2;
  }
  int ttl_ms = 0;
  if (!absl::SimpleAtoi(argv[3], &ttl_ms)) return 2;
  const std::string name = argv[2];
  // Never outlive a broken test by much.
  std::thread([] {
    ::sleep(120);
    std::_Exit(3);
  }).detach();

  semaphored::ClientOptions options;
  options.address = argv[1];
  options.client_name = "mp_client";
  auto client = semaphored::Client::Connect(options);
  if (!client.ok()) {
    Say("ERROR " + client.status().ToString());
    return 1;
  }
  absl::Mutex mu;
  absl::Status lost_status;
  bool lost = false;
  semaphored::SessionOptions session_options;
  session_options.ttl = absl::Milliseconds(ttl_ms);
  session_options.on_session_lost = [&](const absl::Status& why) {
    absl::MutexLock lock(&mu);
    lost = true;
    lost_status = why;
  };
  auto session = (*client)->OpenSession(session_options);
  if (!session.ok()) {
    Say("ERROR " + session.status().ToString());
    return 1;
  }
  auto set = (*session)->Set(name);
  if (!set.ok() || !set->acquired) {
    Say("ERROR not acquired: " + set.status().ToString());
    return 1;
  }
  Say("HELD " + std::to_string(set->fencing_token));

  std::string command;
  while (std::getline(std::cin, command)) {
    if (command == "close") {
      Say("CLOSED " + (*session)->Close().ToString());
    } else if (command == "clear") {
      absl::Status s = (*session)->Clear(name);
      Say("CLEAR " + absl::StatusCodeToString(s.code()) + " " + std::string(s.message()));
    } else if (command == "status") {
      absl::MutexLock lock(&mu);
      Say(std::string("LOST ") + (lost ? "1 " : "0 ") + lost_status.ToString());
    } else if (command == "exit") {
      return 0;
    }
  }
  return 0;
}
