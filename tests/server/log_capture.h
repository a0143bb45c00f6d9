#ifndef SEMAPHORED_TESTS_SERVER_LOG_CAPTURE_H_
#define SEMAPHORED_TESTS_SERVER_LOG_CAPTURE_H_

// A LogSink that keeps the lines a Server writes, for tests that check its logs.

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/observability/logger.h"

namespace semaphored::server::testing {

class CapturingLogSink final : public LogSink {
 public:
  void Write(absl::string_view line) override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    lines_.emplace_back(line);
  }
  std::vector<std::string> Lines() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return lines_;
  }
  // The lines containing every one of `parts`.
  std::vector<std::string> Matching(std::initializer_list<absl::string_view> parts) const
      ABSL_LOCKS_EXCLUDED(mu_) {
    std::vector<std::string> out;
    for (const std::string& line : Lines()) {
      bool all = true;
      for (absl::string_view part : parts) all = all && absl::StrContains(line, part);
      if (all) out.push_back(line);
    }
    return out;
  }
  // Waits (bounded by `timeout`) until a line contains every one of `parts`; returns
  // it, or "" on timeout. For lines written by another thread after an RPC returned.
  std::string Await(std::initializer_list<absl::string_view> parts,
                    absl::Duration timeout = absl::Seconds(20)) const
      ABSL_LOCKS_EXCLUDED(mu_) {
    const std::vector<absl::string_view> wanted(parts);
    auto found = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> const std::string* {
      for (const std::string& line : lines_) {
        bool all = true;
        for (absl::string_view part : wanted) all = all && absl::StrContains(line, part);
        if (all) return &line;
      }
      return nullptr;
    };
    absl::MutexLock lock(&mu_);
    auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return found() != nullptr; };
    mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
    const std::string* line = found();
    return line != nullptr ? *line : std::string();
  }

 private:
  mutable absl::Mutex mu_;
  // State below is protected by mu_.
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

}  // namespace semaphored::server::testing

#endif  // SEMAPHORED_TESTS_SERVER_LOG_CAPTURE_H_
