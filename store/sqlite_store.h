#ifndef SEMAPHORED_STORE_SQLITE_STORE_H_
#define SEMAPHORED_STORE_SQLITE_STORE_H_

// The store that keeps the engine's effects in a SQLite database under a data dir,
// durably (WAL, synchronous=FULL: every Commit is fsync'd before it returns).
//
// Layout of a data dir: DIR/semaphored.db (mode 0600: it holds session secrets, and
// SQLite gives its -wal and -shm files the same mode) and DIR/LOCK, locked for the
// store's life so that one semaphored at a time uses the dir. See sqlite_schema.h for
// the tables.

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/store.h"

struct sqlite3;

namespace semaphored::store {

class DataDirLock;

// Thread-safe: calls are serialized by an internal mutex (one Commit at a time, as the
// port wants; a commit blocks its caller until the fsync is done).
class SqliteStore final : public engine::Store {
 public:
  // Opens the store in `dir`, creating the dir (mode 0700, with missing parents) and an
  // empty database when missing. Errors:
  //   FAILED_PRECONDITION "cannot create data dir DIR: <strerror> (errno N)" and the
  //     like for a path that cannot be created, is not a directory or is not readable
  //     and writable (the message names the path and errno);
  //   FAILED_PRECONDITION "data dir DIR is in use by another semaphored (pid N)";
  //   FAILED_PRECONDITION "data dir DIR has format N; this semaphored reads up to M";
  //   DATA_LOSS "data dir file DIR/semaphored.db is corrupt: ..." (not a database, or
  //     PRAGMA quick_check found damage).
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& dir);

  // Closes the database and releases the dir's lock.
  ~SqliteStore() override;

  // Reads the whole state in one read transaction. Besides the engine::Store errors,
  // DATA_LOSS when a row contradicts the schema (a holder or waiter of a semaphore that
  // is not stored: the file was edited).
  absl::StatusOr<engine::StoredState> Load() override;

  // Applies the batch's effects in order in one transaction (BEGIN IMMEDIATE ...
  // COMMIT). Effects are checked against the stored state: INTERNAL (with the effect's
  // index and what it names) when one contradicts it: a session, semaphore, holder or
  // waiter created twice, or removed or referenced when it is not stored, or a
  // session or semaphore removed while a holder or waiter still refers to it. The
  // batch is then rolled back (no trace) and later commits still work.
  // A failed COMMIT or ROLLBACK (I/O error, disk full) leaves durability in doubt:
  // that commit and every later one fail with that error (UNAVAILABLE,
  // RESOURCE_EXHAUSTED, ...), and the store must be reopened.
  //
  // How effects apply: HolderAdded for a session that already holds the semaphore
  // replaces its record, which becomes the newest grant; TokenHighWater keeps the
  // larger of the stored and the new value; SessionOpened and WaiterQueued raise
  // last_session and last_waiter; CommandOutcome and a WaiterQueued with a seq raise
  // the session's last_seq; SessionEnded drops the session's outcomes;
  // CommandsAcked of an outcome that is not stored is INTERNAL. Ids and tokens are
  // kept as signed 64-bit values (their bits unchanged): the high-waters and last_*
  // compare them as unsigned, so
  // session ids of 2^63 and more (ids are random) round-trip; sessions load in signed
  // id order, which the port leaves open.
  absl::Status Commit(const engine::EffectBatch& batch) override;

  // "sqlite DIR/semaphored.db".
  std::string Describe() const override;
  bool durable() const override { return true; }

 private:
  struct Statements;

  SqliteStore(std::string dir, std::unique_ptr<DataDirLock> lock);
  absl::Status OpenDatabase() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Apply(const engine::Effect& effect) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Rollback() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string dir_;
  const std::string path_;  // dir_/semaphored.db
  const std::unique_ptr<DataDirLock> lock_;

  absl::Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::unique_ptr<Statements> stmts_ ABSL_GUARDED_BY(mu_);
  // Not OK once a COMMIT or ROLLBACK failed: every later Commit returns it.
  absl::Status broken_ ABSL_GUARDED_BY(mu_);
};

}  // namespace semaphored::store

#endif  // SEMAPHORED_STORE_SQLITE_STORE_H_
