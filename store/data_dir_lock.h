#ifndef SEMAPHORED_STORE_DATA_DIR_LOCK_H_
#define SEMAPHORED_STORE_DATA_DIR_LOCK_H_

// The lock that keeps a data dir to one semaphored at a time.

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace semaphored::store {

// An exclusive flock(2) on DIR/LOCK, held from Acquire until the object is destroyed
// (or the process ends, however it ends: the kernel drops the lock with the file).
// The lock file holds the owner's pid, for the message a second opener gets.
//
// flock locks belong to the open file, so a second Acquire fails both from another
// process and from the same process. Not thread-safe; it has no methods to share.
class DataDirLock {
 public:
  // Takes the lock on `dir` (which must exist). Errors:
  //   FAILED_PRECONDITION "data dir DIR is in use by another semaphored (pid N)" when
  //     the lock is held (N is "unknown" if the file holds no pid);
  //   FAILED_PRECONDITION naming DIR/LOCK and errno when the file cannot be opened.
  static absl::StatusOr<std::unique_ptr<DataDirLock>> Acquire(const std::string& dir);

  ~DataDirLock();
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace semaphored::store

#endif  // SEMAPHORED_STORE_DATA_DIR_LOCK_H_
