// DataDirLock: flock on DIR/LOCK, with the owner's pid written into the file.
#include "store/data_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace semaphored::store {
namespace {

std::string ErrnoText(int err) { return absl::StrCat(std::strerror(err), " (errno ", err, ")"); }

// The pid the lock's owner wrote, or "unknown" (it may be between open and write).
std::string ReadOwner(int fd) {
  char buf[32] = {};
  const ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  int64_t pid = 0;
  if (n > 0 && absl::SimpleAtoi(absl::StripAsciiWhitespace(absl::string_view(buf, n)), &pid)) {
    return absl::StrCat(pid);
  }
  return "unknown";
}

}  // namespace

absl::StatusOr<std::unique_ptr<DataDirLock>> DataDirLock::Acquire(const std::string& dir) {
  const std::string path = absl::StrCat(dir, "/LOCK");
  // No O_TRUNC: a second opener must not wipe the owner's pid before it learns that
  // the lock is taken.
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot open the lock file ", path, " of data dir ", dir, ": ", ErrnoText(err),
        "; check the data dir's path and permissions"));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    std::string owner = ReadOwner(fd);
    close(fd);
    if (err == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data dir ", dir, " is in use by another semaphored (pid ", owner,
          "); stop it or choose another --data_dir"));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("cannot lock ", path, ": ", ErrnoText(err)));
  }
  const std::string pid = absl::StrCat(getpid(), "\n");
  // The pid is only for messages: failing to write it does not give the lock up.
  if (ftruncate(fd, 0) == 0) {
    [[maybe_unused]] const ssize_t written = pwrite(fd, pid.data(), pid.size(), 0);
  }
  return std::unique_ptr<DataDirLock>(new DataDirLock(fd));
}

DataDirLock::~DataDirLock() { close(fd_); }

}  // namespace semaphored::store
