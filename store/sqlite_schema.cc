// PrepareSchema: the checks a data dir's database passes at open, and its schema.
#include "store/sqlite_schema.h"

#include <sqlite3.h>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "store/sqlite_statement.h"

namespace semaphored::store {
namespace {

// Format 1, as first released; a new database is created as format 1 and then
// migrated (one path for new and old data dirs).
constexpr const char* kCreateFormat1 = R"sql(
CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES
  ('token_high_water', 0), ('last_waiter', 0), ('last_session', 0);
CREATE TABLE sessions (
  id INTEGER PRIMARY KEY,
  secret BLOB NOT NULL,
  client_name TEXT NOT NULL,
  peer TEXT NOT NULL,
  ttl_ns INTEGER NOT NULL
);
CREATE TABLE semaphores (
  name TEXT PRIMARY KEY,
  permit_limit INTEGER NOT NULL
);
CREATE TABLE holders (
  grant_seq INTEGER PRIMARY KEY,
  name TEXT NOT NULL REFERENCES semaphores (name),
  session INTEGER NOT NULL REFERENCES sessions (id),
  permits INTEGER NOT NULL,
  fencing_token INTEGER NOT NULL,
  since_ns INTEGER NOT NULL,
  UNIQUE (name, session)
);
-- For the foreign-key check when a session ends (else a scan of every holder).
CREATE INDEX holders_by_session ON holders (session);
CREATE TABLE waiters (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL REFERENCES semaphores (name),
  session INTEGER NOT NULL REFERENCES sessions (id),
  wait_for_clear INTEGER NOT NULL,
  permits INTEGER NOT NULL,
  deadline_ns INTEGER NOT NULL,
  enqueued_ns INTEGER NOT NULL
);
-- For the foreign-key checks when a semaphore is erased or a session ends.
CREATE INDEX waiters_by_name ON waiters (name);
CREATE INDEX waiters_by_session ON waiters (session);
)sql";

// Format 1 -> 2: at-most-once commands. Each session's last command seq, each
// waiter's seq, and the kept outcomes of sequenced commands (see engine/store.h
// CommandOutcome; its fields by name).
constexpr const char* kFormat1To2 = R"sql(
ALTER TABLE sessions ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE waiters ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
CREATE TABLE outcomes (
  session INTEGER NOT NULL REFERENCES sessions (id),
  seq INTEGER NOT NULL,
  kind INTEGER NOT NULL,
  code INTEGER NOT NULL,
  message TEXT NOT NULL,
  acquired INTEGER NOT NULL,
  already_held INTEGER NOT NULL,
  fencing_token INTEGER NOT NULL,
  permits INTEGER NOT NULL,
  grant_ns INTEGER NOT NULL,
  released INTEGER NOT NULL,
  clear INTEGER NOT NULL,
  PRIMARY KEY (session, seq)
) WITHOUT ROWID;
)sql";
static_assert(kSqliteFormat == 2, "PrepareSchema migrates up to format 2");

// Runs `sql` and sets the format to `to` in one transaction.
absl::Status Migrate(sqlite3* db, const std::string& path, absl::string_view sql, int to) {
  const std::string script =
      absl::StrCat("BEGIN IMMEDIATE;", sql, "PRAGMA user_version = ", to, "; COMMIT;");
  if (absl::Status s = Exec(db, script.c_str()); !s.ok()) {
    Exec(db, "ROLLBACK").IgnoreError();
    return absl::Status(s.code(), absl::StrCat("cannot bring data dir file ", path,
                                               " to format ", to, ": ", s.message()));
  }
  return absl::OkStatus();
}

// The single integer a PRAGMA returns.
absl::StatusOr<int64_t> PragmaInt(sqlite3* db, const char* sql) {
  absl::StatusOr<Statement> stmt = Statement::Prepare(db, sql);
  if (!stmt.ok()) return stmt.status();
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  const int64_t value = *row ? stmt->Int(0) : 0;
  if (absl::Status s = stmt->Run(); !s.ok()) return s;
  return value;
}

absl::Status Corrupt(const std::string& path, const absl::Status& cause) {
  return absl::DataLossError(absl::StrCat(
      "data dir file ", path, " is corrupt: ", cause.message(),
      "; move it away (semaphored then starts empty) or restore it from a backup"));
}

// PRAGMA quick_check: "ok", or a list of problems.
absl::Status QuickCheck(sqlite3* db, const std::string& path) {
  absl::StatusOr<Statement> stmt = Statement::Prepare(db, "PRAGMA quick_check(5)");
  if (!stmt.ok()) return stmt.status();
  std::string problems;
  for (;;) {
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return Corrupt(path, row.status());
    if (!*row) break;
    // One problem may span lines: keep the message on one line.
    const std::string line = absl::StrReplaceAll(stmt->Text(0), {{"\n", "; "}});
    if (line != "ok") absl::StrAppend(&problems, problems.empty() ? "" : "; ", line);
  }
  if (!problems.empty()) {
    return Corrupt(path, absl::DataLossError(absl::StrCat("quick_check: ", problems)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status PrepareSchema(sqlite3* db, const std::string& dir, const std::string& path) {
  // One process uses the database (the data dir lock says so): it keeps SQLite's file
  // lock from its first read on, and the WAL index in its own memory instead of a
  // shared -shm file, so that a commit makes no lock calls (set before the first
  // access, or SQLite would use the shared index).
  if (absl::Status s = Exec(db, "PRAGMA locking_mode = EXCLUSIVE"); !s.ok()) return s;
  // Reading the version reads the header: a file that is not a database fails here.
  absl::StatusOr<int64_t> format = PragmaInt(db, "PRAGMA user_version");
  if (!format.ok()) {
    if (format.status().code() == absl::StatusCode::kDataLoss) {
      return Corrupt(path, format.status());
    }
    return format.status();
  }
  if (*format > kSqliteFormat) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data dir ", dir, " has format ", *format, "; this semaphored reads up to ",
        kSqliteFormat, "; run a newer semaphored on it"));
  }
  if (absl::Status s = QuickCheck(db, path); !s.ok()) return s;
  if (*format == 0) {
    absl::StatusOr<int64_t> objects = PragmaInt(db, "SELECT count(*) FROM sqlite_master");
    if (!objects.ok()) return objects.status();
    if (*objects != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data dir file ", path, " is a SQLite database but not semaphored's (it has ",
          *objects, " schema objects and no format); choose another --data_dir"));
    }
  }
  // WAL: a commit appends to the log and fsyncs it once; FULL: that fsync happens at
  // every commit, so a committed batch survives a power loss.
  absl::StatusOr<Statement> wal = Statement::Prepare(db, "PRAGMA journal_mode = WAL");
  if (!wal.ok()) return wal.status();
  absl::StatusOr<bool> row = wal->Step();
  if (!row.ok()) return row.status();
  const std::string mode = *row ? wal->Text(0) : "";
  if (absl::Status s = wal->Run(); !s.ok()) return s;
  if (mode != "wal") {
    return absl::FailedPreconditionError(absl::StrCat(
        "data dir file ", path, " cannot use write-ahead logging (journal mode is '",
        mode, "'); put the data dir on a local file system"));
  }
  if (absl::Status s = Exec(db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON");
      !s.ok()) {
    return s;
  }
  // A new database is created as format 1 and migrated as an old one is: a crash
  // between the steps leaves a format-1 database, which the next open migrates.
  if (*format == 0) {
    if (absl::Status s = Migrate(db, path, kCreateFormat1, 1); !s.ok()) return s;
  }
  if (*format <= 1) {
    if (absl::Status s = Migrate(db, path, kFormat1To2, 2); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace semaphored::store
