#ifndef SEMAPHORED_COMMON_DURABLE_FILE_H_
#define SEMAPHORED_COMMON_DURABLE_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace semaphored::internal {

// Replaces the file at `path` with `contents`, atomically and durably, never writing
// through a link: the contents go to a new temporary file in the same directory
// (created with O_CREAT | O_EXCL | O_NOFOLLOW, mode 0600, so a file or link planted
// at its name is never opened), which is fsync'ed and renamed over `path`; then the
// directory is fsync'ed. A reader sees the old contents or the new, never a part.
//
// `what` names the file in errors (e.g. "fencing state file"). Errors:
//   FAILED_PRECONDITION  `path` is a symbolic link or not a regular file (refused: the
//                        message says to give the real path)
//   INTERNAL             the OS refused (the message has its error and the path)
absl::Status WriteFileDurably(const std::string& path, absl::string_view contents,
                              absl::string_view what);

// Reads the whole regular file at `path` without following a symbolic link there.
// NOT_FOUND when there is no file; FAILED_PRECONDITION when `path` is a symbolic link
// or not a regular file; INTERNAL for other OS errors.
absl::StatusOr<std::string> ReadFileNoFollow(const std::string& path, absl::string_view what);

}  // namespace semaphored::internal

#endif  // SEMAPHORED_COMMON_DURABLE_FILE_H_
