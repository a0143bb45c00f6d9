#ifndef SEMAPHORED_SERVER_CORE_FENCING_H_
#define SEMAPHORED_SERVER_CORE_FENCING_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace semaphored::internal {

// Hands out fencing tokens: each strictly greater than every one before.
// Next() is called with the core's lock held; implementations need no lock of their
// own but must be cheap on average.
class TokenSource {
 public:
  virtual ~TokenSource() = default;
  virtual uint64_t Next() = 0;
};

// Tokens from an in-memory counter starting after `last`. Not durable: for local
// semaphores and tests.
class CounterTokenSource final : public TokenSource {
 public:
  explicit CounterTokenSource(uint64_t last = 0) : last_(last) {}
  uint64_t Next() override { return ++last_; }

 private:
  uint64_t last_;
};

// Tokens that keep increasing across restarts. The source reserves tokens in blocks
// and records the end of the current block in `path` (written to a temporary file,
// fsync'ed and renamed) before handing out any token of the block; after a restart it
// starts past the recorded end. It also never starts below the wall clock in
// microseconds since the Unix epoch, so tokens increase across restarts even when the
// state file is lost, as long as the system clock does not go back.
class DurableTokenSource final : public TokenSource {
 public:
  // Reads `path` (a missing file is fine; a corrupt one is an error naming the file)
  // and reserves the first block. Fails with the OS error when the file cannot be
  // written.
  static absl::StatusOr<std::unique_ptr<DurableTokenSource>> Open(
      std::string path, absl::Time now, uint64_t block_size = 1 << 16);

  // If recording the next block fails, tokens still increase (the block is used
  // anyway) and the failure is reported on stderr; only durability is lost.
  uint64_t Next() override;

 private:
  DurableTokenSource(std::string path, uint64_t block_size, uint64_t last);
  absl::Status Reserve(uint64_t ceiling);

  const std::string path_;
  const uint64_t block_size_;
  uint64_t last_;     // the last token handed out
  uint64_t ceiling_;  // tokens up to this are recorded as reserved
};

}  // namespace semaphored::internal

#endif  // SEMAPHORED_SERVER_CORE_FENCING_H_
