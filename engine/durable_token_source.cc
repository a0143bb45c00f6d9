// DurableTokenSource: fencing tokens that keep increasing across restarts, their
// blocks recorded in a state file.

#include "engine/durable_token_source.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/durable_file.h"

namespace semaphored::engine {

using internal::ReadFileNoFollow;
using internal::WriteFileDurably;

namespace {

constexpr absl::string_view kWhat = "fencing state file";

}  // namespace

absl::StatusOr<std::unique_ptr<DurableTokenSource>> DurableTokenSource::Open(
    std::string path, absl::Time now, uint64_t block_size) {
  uint64_t recorded = 0;
  absl::StatusOr<std::string> text = ReadFileNoFollow(path, kWhat);
  if (text.ok()) {
    absl::string_view body = absl::StripAsciiWhitespace(*text);
    if (!absl::ConsumePrefix(&body, "next_fencing_token ") ||
        !absl::SimpleAtoi(body, &recorded)) {
      return absl::DataLossError(absl::StrCat(
          "fencing state file ", path, " is corrupt (expected \"next_fencing_token N\"); "
          "move it away to start from the clock"));
    }
  } else if (!absl::IsNotFound(text.status())) {
    return text.status();
  }
  const uint64_t clock_floor =
      static_cast<uint64_t>(std::max<int64_t>(0, absl::ToUnixMicros(now)));
  const uint64_t last = std::max(recorded, clock_floor);
  if (last >= kMaxFencingToken) return FencingTokensExhausted();
  std::unique_ptr<DurableTokenSource> source(
      new DurableTokenSource(std::move(path), std::max<uint64_t>(block_size, 1), last));
  if (absl::Status s = source->Reserve(); !s.ok()) return s;
  return source;
}

DurableTokenSource::DurableTokenSource(std::string path, uint64_t block_size, uint64_t last)
    : path_(std::move(path)), block_size_(block_size), last_(last), ceiling_(last) {}

absl::Status DurableTokenSource::Reserve() {
  // The next block, short near the end (no overflow past kMaxFencingToken).
  const uint64_t ceiling = last_ + std::min(block_size_, kMaxFencingToken - last_);
  absl::Status s =
      WriteFileDurably(path_, absl::StrCat("next_fencing_token ", ceiling + 1, "\n"), kWhat);
  // Tokens keep increasing even if the record failed; only durability is lost.
  ceiling_ = ceiling;
  return s;
}

absl::StatusOr<uint64_t> DurableTokenSource::Next() {
  if (last_ >= kMaxFencingToken) return FencingTokensExhausted();
  if (last_ >= ceiling_) {
    if (absl::Status s = Reserve(); !s.ok()) {
      std::fprintf(stderr, "semaphored: %s\n", s.ToString().c_str());
    }
  }
  return ++last_;
}

}  // namespace semaphored::engine
