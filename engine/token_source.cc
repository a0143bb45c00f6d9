// The error every token source answers once the fencing tokens run out.

#include "engine/token_source.h"

#include "absl/strings/str_cat.h"

namespace semaphored::engine {

absl::Status FencingTokensExhausted() {
  return absl::ResourceExhaustedError(absl::StrCat(
      "fencing tokens are exhausted: the largest, ", kMaxFencingToken,
      ", has been handed out, and tokens must keep increasing, so no grant can be made. "
      "This happens only when the state file (--state_file) was set near 2^64: restore "
      "it, or reset it together with every resource that checks these tokens"));
}

}  // namespace semaphored::engine
