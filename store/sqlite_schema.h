#ifndef SEMAPHORED_STORE_SQLITE_SCHEMA_H_
#define SEMAPHORED_STORE_SQLITE_SCHEMA_H_

// The SQLite store's schema and its format version (PRAGMA user_version).
//
//   meta       (key TEXT PRIMARY KEY, value INTEGER)  token_high_water, last_waiter,
//                                                     last_session
//   sessions   (id PK, secret BLOB, client_name, peer, ttl_ns, last_seq [format 2])
//   semaphores (name PK, permit_limit)
//   holders    (grant_seq PK, name -> semaphores, session -> sessions, permits,
//               fencing_token, since_ns; UNIQUE (name, session))
//              grant_seq is the rowid: a new row gets one above every row present, so
//              it orders the holders of a semaphore by grant.
//   waiters    (id PK = the engine's waiter id, the queue order; name -> semaphores,
//               session -> sessions, wait_for_clear, permits, deadline_ns, enqueued_ns,
//               seq [format 2])
//   outcomes   [format 2] ((session -> sessions, seq) PK, kind, code, message,
//               acquired, already_held, fencing_token, permits, grant_ns, released,
//               clear): engine::CommandOutcome, kept until acknowledged
//
// Formats: 1 (no command seqs); 2 adds last_seq, waiters.seq and outcomes. Open
// migrates a format-1 database to 2 in one transaction (its sessions get last_seq
// 0, its waiters seq 0: unsequenced, as they were).
// Foreign keys are enforced: an effect that names a session or semaphore that is not
// stored, or removes one that is still referenced, fails its batch.
// Times are nanoseconds since the Unix epoch (see Statement).

#include <string>

#include "absl/status/status.h"

struct sqlite3;

namespace semaphored::store {

// The format this build writes, and the newest it reads.
inline constexpr int kSqliteFormat = 2;

// Readies the database open on `db` (the file `path` of data dir `dir`): checks that it
// is readable, intact and not from a newer format, sets WAL, synchronous=FULL and
// foreign keys, creates the schema in a new (empty) database and migrates an older
// format to this one. Errors:
//   DATA_LOSS "data dir file PATH is corrupt: ..." when it is not a SQLite database
//     or PRAGMA quick_check finds damage;
//   FAILED_PRECONDITION "data dir DIR has format N; this semaphored reads up to M";
//   FAILED_PRECONDITION when it is a SQLite database but not semaphored's;
//   others as SqliteStatus, naming PATH.
absl::Status PrepareSchema(sqlite3* db, const std::string& dir, const std::string& path);

}  // namespace semaphored::store

#endif  // SEMAPHORED_STORE_SQLITE_SCHEMA_H_
