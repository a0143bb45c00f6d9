#ifndef SEMAPHORED_STORE_SQLITE_STATEMENT_H_
#define SEMAPHORED_STORE_SQLITE_STATEMENT_H_

// A prepared SQLite statement, reused across calls, and SQLite result codes as Status.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

struct sqlite3;
struct sqlite3_stmt;

namespace semaphored::store {

// `rc` (a SQLite result code, not OK) from an operation on `db` as a Status whose
// code says what to do about it:
//   DATA_LOSS            the file is corrupt or not a database (SQLITE_CORRUPT, NOTADB);
//   RESOURCE_EXHAUSTED   the disk is full (SQLITE_FULL);
//   FAILED_PRECONDITION  the file cannot be opened or written (CANTOPEN, PERM,
//                        READONLY, AUTH): a path or permission problem;
//   UNAVAILABLE          I/O error or busy (IOERR, BUSY, LOCKED);
//   INTERNAL             a constraint failed (the effects contradict the stored state)
//                        or anything else.
// The message is "`what`: SQLite's message (sqlite error N[, errno E])".
absl::Status SqliteStatus(sqlite3* db, int rc, absl::string_view what);

// Runs `sql` (one or more statements, no results) on `db`.
absl::Status Exec(sqlite3* db, const char* sql);

// Owns one prepared statement. Typical use: Bind*, then Step until it returns false
// (or Run once for a statement without results); either leaves it reset for the next
// use. Values are 64-bit integers, text, blobs and times (nanoseconds since the Unix
// epoch; absl's infinite past and future are kept as INT64_MIN and INT64_MAX).
// Unsigned 64-bit values are kept as their two's-complement int64.
// Not thread-safe: the owner serializes its use.
class Statement {
 public:
  // Prepares `sql` for repeated use. Errors as SqliteStatus, naming the statement.
  static absl::StatusOr<Statement> Prepare(sqlite3* db, absl::string_view sql);
  // An empty statement, only to be assigned a prepared one.
  Statement() = default;

  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  ~Statement();

  // Binds parameter `index` (from 1). A failed bind is reported by the next Step/Run.
  Statement& BindInt(int index, int64_t value);
  Statement& BindUint(int index, uint64_t value) {
    return BindInt(index, static_cast<int64_t>(value));
  }
  Statement& BindText(int index, absl::string_view value);
  Statement& BindBlob(int index, absl::string_view value);
  Statement& BindTime(int index, absl::Time value);
  Statement& BindDuration(int index, absl::Duration value);

  // Steps once: true when a row is ready to read, false when done (the statement is
  // then reset and its bindings cleared). On error it is reset too.
  absl::StatusOr<bool> Step();
  // Steps to the end, discarding rows. Same errors as Step.
  absl::Status Run();
  // Rows changed by the last Run of an INSERT, UPDATE or DELETE.
  int64_t Changes() const;

  // Column `col` (from 0) of the current row.
  int64_t Int(int col) const;
  uint64_t Uint(int col) const { return static_cast<uint64_t>(Int(col)); }
  std::string Text(int col) const;
  // Column `col` as text, valid until the next Step.
  absl::string_view TextView(int col) const;
  std::string Blob(int col) const;
  absl::Time Time(int col) const;
  absl::Duration Duration(int col) const;

 private:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  void Reset();
  void Note(int rc);

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  int bind_error_ = 0;  // the first failed bind since the last reset
};

}  // namespace semaphored::store

#endif  // SEMAPHORED_STORE_SQLITE_STATEMENT_H_
