// Statement: a reusable prepared statement; SqliteStatus: result codes by intent.
#include "store/sqlite_statement.h"

#include <sqlite3.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "store/stored_time.h"

namespace semaphored::store {

absl::Status SqliteStatus(sqlite3* db, int rc, absl::string_view what) {
  std::string message = absl::StrCat(what, ": ", db != nullptr ? sqlite3_errmsg(db)
                                                                 : sqlite3_errstr(rc),
                                     " (sqlite error ", rc);
  if (db != nullptr && sqlite3_system_errno(db) != 0) {
    absl::StrAppend(&message, ", errno ", sqlite3_system_errno(db));
  }
  message += ")";
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(message);
    case SQLITE_FULL:
      return absl::ResourceExhaustedError(message);
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
      return absl::FailedPreconditionError(message);
    case SQLITE_IOERR:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::Status Exec(sqlite3* db, const char* sql) {
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(db, rc, sql);
  return absl::OkStatus();
}

absl::StatusOr<Statement> Statement::Prepare(sqlite3* db, absl::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return SqliteStatus(db, rc, absl::StrCat("preparing \"", sql, "\""));
  }
  return Statement(db, stmt);
}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)),
      bind_error_(other.bind_error_) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = other.db_;
    stmt_ = std::exchange(other.stmt_, nullptr);
    bind_error_ = other.bind_error_;
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

void Statement::Note(int rc) {
  if (rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
}

Statement& Statement::BindInt(int index, int64_t value) {
  Note(sqlite3_bind_int64(stmt_, index, value));
  return *this;
}

Statement& Statement::BindText(int index, absl::string_view value) {
  Note(sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                         SQLITE_STATIC));
  return *this;
}

Statement& Statement::BindBlob(int index, absl::string_view value) {
  // A zero-length blob with a null pointer would bind NULL: bind an empty blob.
  Note(value.empty() ? sqlite3_bind_zeroblob(stmt_, index, 0)
                     : sqlite3_bind_blob(stmt_, index, value.data(),
                                         static_cast<int>(value.size()), SQLITE_STATIC));
  return *this;
}

Statement& Statement::BindTime(int index, absl::Time value) {
  return BindInt(index, StoredNanos(value));
}

Statement& Statement::BindDuration(int index, absl::Duration value) {
  return BindInt(index, StoredNanos(value));
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_error_ = 0;
}

absl::StatusOr<bool> Statement::Step() {
  if (bind_error_ != 0) {
    const int rc = bind_error_;
    Reset();
    return SqliteStatus(db_, rc, absl::StrCat("binding \"", sqlite3_sql(stmt_), "\""));
  }
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) {
    Reset();
    return false;
  }
  // The step's error is the connection's last error until reset, so read it first.
  absl::Status status = SqliteStatus(db_, rc, absl::StrCat("\"", sqlite3_sql(stmt_), "\""));
  Reset();
  return status;
}

absl::Status Statement::Run() {
  for (;;) {
    absl::StatusOr<bool> row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
  }
}

int64_t Statement::Changes() const { return sqlite3_changes64(db_); }

int64_t Statement::Int(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string Statement::Text(int col) const { return std::string(TextView(col)); }

absl::string_view Statement::TextView(int col) const {
  const auto* text = sqlite3_column_text(stmt_, col);
  const int size = sqlite3_column_bytes(stmt_, col);
  return text == nullptr ? absl::string_view()
                         : absl::string_view(reinterpret_cast<const char*>(text), size);
}

std::string Statement::Blob(int col) const {
  const void* blob = sqlite3_column_blob(stmt_, col);
  const int size = sqlite3_column_bytes(stmt_, col);
  return blob == nullptr ? std::string() : std::string(static_cast<const char*>(blob), size);
}

absl::Time Statement::Time(int col) const { return StoredTime(Int(col)); }

absl::Duration Statement::Duration(int col) const { return StoredDuration(Int(col)); }

}  // namespace semaphored::store
