#ifndef SEMAPHORED_ENGINE_DURABLE_TOKEN_SOURCE_H_
#define SEMAPHORED_ENGINE_DURABLE_TOKEN_SOURCE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/token_source.h"

namespace semaphored::engine {

// Tokens that keep increasing across restarts. The source reserves tokens in blocks
// and records the end of the current block in `path` (see WriteFileDurably: a new
// temporary file, fsync'ed and renamed over it; never written through a link) before
// handing out any token of the block; after a restart it starts past the recorded
// end. It also never starts below the wall clock in microseconds since the Unix
// epoch, so tokens increase across restarts even when the state file is lost, as long
// as the system clock does not go back.
class DurableTokenSource final : public TokenSource {
 public:
  // Reads `path` (a missing file is fine) and reserves the first block. Errors:
  // DATA_LOSS for a corrupt file (naming it); FAILED_PRECONDITION when `path` is a
  // symbolic link or not a regular file; RESOURCE_EXHAUSTED when the file records
  // that no token is left (FencingTokensExhausted); INTERNAL with the OS error when
  // the file cannot be read or written.
  static absl::StatusOr<std::unique_ptr<DurableTokenSource>> Open(
      std::string path, absl::Time now, uint64_t block_size = 1 << 16);

  // If recording the next block fails, tokens still increase (the block is used
  // anyway) and the failure is reported on stderr; only durability is lost.
  absl::StatusOr<uint64_t> Next() override;

 private:
  DurableTokenSource(std::string path, uint64_t block_size, uint64_t last);
  // Records the block after last_ as reserved.
  absl::Status Reserve();

  const std::string path_;
  const uint64_t block_size_;
  uint64_t last_;     // the last token handed out
  uint64_t ceiling_;  // tokens up to this are recorded as reserved
};

}  // namespace semaphored::engine

#endif  // SEMAPHORED_ENGINE_DURABLE_TOKEN_SOURCE_H_
