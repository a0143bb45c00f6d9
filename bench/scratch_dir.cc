// ScratchDir and FileSystemOf: the benchmark's files on disk.

#include "scratch_dir.h"

#include <stdlib.h>
#include <sys/vfs.h>

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace semaphored::bench {

ScratchDir::~ScratchDir() {
  if (path_.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

absl::Status ScratchDir::Make(const std::string& parent, const std::string& tag) {
  std::string dir = parent;
  if (dir.empty()) {
    std::error_code error;
    dir = std::filesystem::temp_directory_path(error).string();
    if (error) dir = "/tmp";
  }
  std::string pattern = absl::StrCat(dir, "/semaphored_bench_", tag, ".XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot make a data dir under ", dir, ": errno ", errno,
        " (set --bench_dir to a writable directory)"));
  }
  path_ = pattern;
  return absl::OkStatus();
}

std::string FileSystemOf(const std::string& path) {
  struct statfs fs {};
  if (statfs(path.c_str(), &fs) != 0) return "unknown";
  switch (static_cast<uint64_t>(fs.f_type)) {
    case 0xEF53: return "ext4";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x01021994: return "tmpfs (fsync costs nothing: use --bench_dir on a disk)";
    case 0x794C7630: return "overlayfs";
    default: return absl::StrFormat("type 0x%x", static_cast<uint64_t>(fs.f_type));
  }
}

}  // namespace semaphored::bench
