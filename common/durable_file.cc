// Atomic, durable file replacement and reads that never follow a symbolic link.

#include "common/durable_file.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace semaphored::internal {
namespace {

absl::Status OsError(absl::string_view action, absl::string_view what, const std::string& path,
                     int err) {
  return absl::InternalError(
      absl::StrCat("cannot ", action, " ", what, " ", path, ": ", std::strerror(err)));
}

absl::Status LinkRefused(const std::string& path, absl::string_view what) {
  return absl::FailedPreconditionError(absl::StrCat(
      what, " ", path, " is a symbolic link; refusing to follow it (a link there could make "
      "the server read or overwrite another file): give the real path, or remove the link"));
}

// OK when nothing is at `path` or a regular file is; FAILED_PRECONDITION for a link
// or anything else.
absl::Status CheckTarget(const std::string& path, absl::string_view what) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return OsError("inspect", what, path, errno);
  }
  if (S_ISLNK(st.st_mode)) return LinkRefused(path, what);
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, " ", path, " exists but is not a regular file; give another path"));
  }
  return absl::OkStatus();
}

// A name for a temporary beside `path` that nobody can predict.
std::string TemporaryName(const std::string& path) {
  unsigned char bytes[8] = {};
  size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;  // unpredictability is a courtesy here: O_EXCL is what protects
    }
    got += static_cast<size_t>(n);
  }
  return absl::StrCat(path, ".tmp.", ::getpid(), ".",
                      absl::BytesToHexString(absl::string_view(
                          reinterpret_cast<const char*>(bytes), sizeof bytes)));
}

bool WriteAll(int fd, absl::string_view contents) {
  while (!contents.empty()) {
    ssize_t n = ::write(fd, contents.data(), contents.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    contents.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

absl::Status WriteFileDurably(const std::string& path, absl::string_view contents,
                              absl::string_view what) {
  if (absl::Status s = CheckTarget(path, what); !s.ok()) return s;
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 8 && fd < 0; ++attempt) {
    tmp = TemporaryName(path);
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST) return OsError("create a temporary for", what, tmp, errno);
  }
  if (fd < 0) return OsError("create a temporary for", what, tmp, EEXIST);
  bool written = WriteAll(fd, contents) && ::fsync(fd) == 0;
  int err = written ? 0 : errno;
  if (::close(fd) != 0 && written) {
    written = false;
    err = errno;
  }
  if (!written) {
    ::unlink(tmp.c_str());
    return OsError("write", what, tmp, err);
  }
  // Renaming replaces a link planted at `path` since the check; it never follows it.
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    err = errno;
    ::unlink(tmp.c_str());
    return OsError("rename a temporary over", what, path, err);
  }
  std::string dir = path.substr(0, path.find_last_of('/') + 1);
  if (dir.empty()) dir = ".";
  if (int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFileNoFollow(const std::string& path, absl::string_view what) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return absl::NotFoundError(absl::StrCat(what, " ", path, " is missing"));
    if (err == ELOOP) return LinkRefused(path, what);  // O_NOFOLLOW met a link
    return OsError("open", what, path, err);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat(what, " ", path, " exists but is not a regular file; give another path"));
  }
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return OsError("read", what, path, err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (1 << 20)) {
      ::close(fd);
      return absl::FailedPreconditionError(
          absl::StrCat(what, " ", path, " is larger than 1 MiB; it is not ours"));
    }
  }
  ::close(fd);
  return out;
}

}  // namespace semaphored::internal
