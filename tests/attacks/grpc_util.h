#ifndef SEMAPHORED_TESTS_ATTACKS_GRPC_UTIL_H_
#define SEMAPHORED_TESTS_ATTACKS_GRPC_UTIL_H_

// gRPC client pieces for the attacks: channels with their own connection, many unary
// calls in flight at once, and a StreamSession whose answers are counted by a reader
// thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "semaphored/v1/semaphore.grpc.pb.h"

namespace semaphored::testing {

// A channel with a connection of its own (never shared with another channel of the
// process).
std::shared_ptr<grpc::Channel> OwnChannel(const std::string& address);

// Health/Check on a new connection with `deadline`: OK when it answered SERVING.
grpc::Status HealthCheckNewConnection(const std::string& address, absl::Duration deadline);

// Outcome counts of many calls.
struct CallCounts {
  int64_t ok = 0;
  int64_t resource_exhausted = 0;
  int64_t other = 0;
  std::string first_error;  // "CODE: message" of the first failure
  void Record(const grpc::Status& status);
};

// Sessions created by CreateSessions.
struct Sessions {
  std::vector<std::string> secrets;
  CallCounts calls;
};

// Creates up to `count` sessions named `client_name` with `ttl`, keeping `in_flight`
// CreateSession calls outstanding over `channels` (round robin), until `deadline`.
// With `stop_after_refusals` > 0, stops once that many calls in a row were refused
// (RESOURCE_EXHAUSTED): the server has said no. Keeps the secrets when `keep` is set.
Sessions CreateSessions(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                        int64_t count, absl::Duration ttl, const std::string& client_name,
                        int in_flight, absl::Time deadline, int64_t stop_after_refusals,
                        bool keep);

// One StreamSession of session `secret`, answers counted on a reader thread.
class CountedStream {
 public:
  struct Counts {
    int64_t events = 0;
    int64_t acquired = 0;      // set answers with acquired = true
    int64_t not_acquired = 0;  // set answers with acquired = false
    int64_t errors = 0;        // CommandError answers
    int64_t resource_exhausted = 0;  // ... of them with RESOURCE_EXHAUSTED
    int64_t pings = 0;
    int64_t tests = 0;
    int64_t max_event_command = 0;  // the largest command_id answered
    std::string first_error;
    bool ended = false;  // the stream is over (the status is in end_status)
    std::string end_status;
  };

  // Starts the call; with `read` false nothing reads the answers (the server's
  // answers then wait in its buffers).
  CountedStream(const std::shared_ptr<grpc::Channel>& channel, std::string secret,
                bool read = true);
  // Cancels the call and joins the reader.
  ~CountedStream();
  CountedStream(const CountedStream&) = delete;
  CountedStream& operator=(const CountedStream&) = delete;

  // Sends `request` (the session secret is added to the first one). False once the
  // stream is broken.
  bool Write(v1::StreamSessionRequest request);
  // Blocks until `done(counts)` or `deadline`; whether `done` held.
  bool WaitFor(const std::function<bool(const Counts&)>& done, absl::Time deadline)
      ABSL_LOCKS_EXCLUDED(mu_);
  Counts counts() const ABSL_LOCKS_EXCLUDED(mu_);
  void Cancel();

 private:
  void ReadLoop();

  const std::string secret_;
  bool first_write_ = true;
  bool reader_started_ = false;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::StreamSessionRequest,
                                           v1::StreamSessionResponse>>
      stream_;
  mutable absl::Mutex mu_;
  Counts counts_ ABSL_GUARDED_BY(mu_);
  std::thread reader_;
};

}  // namespace semaphored::testing

#endif  // SEMAPHORED_TESTS_ATTACKS_GRPC_UTIL_H_
