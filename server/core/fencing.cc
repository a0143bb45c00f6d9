#include "server/core/fencing.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace semaphored::internal {
namespace {

absl::Status OsError(absl::string_view what, const std::string& path) {
  return absl::InternalError(
      absl::StrCat("cannot ", what, " fencing state file ", path, ": ", std::strerror(errno)));
}

// Writes `contents` to `path` durably: temporary file, fsync, rename, fsync directory.
absl::Status WriteDurably(const std::string& path, const std::string& contents) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return OsError("create", tmp);
  const bool ok = ::write(fd, contents.data(), contents.size()) ==
                      static_cast<ssize_t>(contents.size()) &&
                  ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  errno = saved;
  if (!ok) return OsError("write", tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return OsError("rename into", path);
  std::string dir = path.substr(0, path.find_last_of('/') + 1);
  if (dir.empty()) dir = ".";
  if (int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<DurableTokenSource>> DurableTokenSource::Open(
    std::string path, absl::Time now, uint64_t block_size) {
  uint64_t recorded = 0;
  std::ifstream in(path);
  if (in) {
    std::stringstream buf;
    buf << in.rdbuf();
    std::string text = buf.str();
    absl::string_view body = absl::StripAsciiWhitespace(text);
    if (!absl::ConsumePrefix(&body, "next_fencing_token ") ||
        !absl::SimpleAtoi(body, &recorded)) {
      return absl::DataLossError(absl::StrCat(
          "fencing state file ", path, " is corrupt (expected \"next_fencing_token N\"); "
          "move it away to start from the clock"));
    }
  }
  const uint64_t clock_floor = static_cast<uint64_t>(std::max<int64_t>(0, absl::ToUnixMicros(now)));
  const uint64_t last = std::max(recorded, clock_floor);
  std::unique_ptr<DurableTokenSource> source(
      new DurableTokenSource(std::move(path), std::max<uint64_t>(block_size, 1), last));
  if (absl::Status s = source->Reserve(last + source->block_size_); !s.ok()) return s;
  return source;
}

DurableTokenSource::DurableTokenSource(std::string path, uint64_t block_size, uint64_t last)
    : path_(std::move(path)), block_size_(block_size), last_(last), ceiling_(last) {}

absl::Status DurableTokenSource::Reserve(uint64_t ceiling) {
  absl::Status s = WriteDurably(path_, absl::StrCat("next_fencing_token ", ceiling + 1, "\n"));
  // Tokens keep increasing even if the record failed; only durability is lost.
  ceiling_ = ceiling;
  return s;
}

uint64_t DurableTokenSource::Next() {
  if (last_ >= ceiling_) {
    if (absl::Status s = Reserve(last_ + block_size_); !s.ok()) {
      std::fprintf(stderr, "semaphored: %s\n", s.ToString().c_str());
    }
  }
  return ++last_;
}

}  // namespace semaphored::internal
