#ifndef SEMAPHORED_BENCH_SCRATCH_DIR_H_
#define SEMAPHORED_BENCH_SCRATCH_DIR_H_

// Where the benchmark keeps files on disk (data dirs, an etcd cluster's members): a
// fresh directory removed with its contents afterwards, and the name of the file system
// it is on (an fsync on tmpfs costs nothing, so durable figures mean little there).

#include <string>

#include "absl/status/status.h"

namespace semaphored::bench {

// A fresh directory under a parent, removed (with what it holds) on destruction. Not
// thread-safe.
class ScratchDir {
 public:
  ScratchDir() = default;
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  // Makes <parent>/semaphored_bench_<tag>.XXXXXX (parent empty: the temporary
  // directory, $TMPDIR or /tmp). FAILED_PRECONDITION, naming the parent, when it cannot.
  absl::Status Make(const std::string& parent, const std::string& tag);
  // The directory; empty before Make succeeded.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The file system `path` is on, by name when it is a common one ("ext4", "tmpfs (fsync
// costs nothing: ...)"), else its magic number; "unknown" when statfs fails.
std::string FileSystemOf(const std::string& path);

}  // namespace semaphored::bench

#endif  // SEMAPHORED_BENCH_SCRATCH_DIR_H_
