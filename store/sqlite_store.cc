// SqliteStore: opening a data dir, committing batches of effects, loading the state.
#include "store/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "store/data_dir_lock.h"
#include "store/sqlite_schema.h"
#include "store/sqlite_statement.h"

namespace semaphored::store {
namespace {

using engine::Effect;

std::string ErrnoText(int err) { return absl::StrCat(std::strerror(err), " (errno ", err, ")"); }

// mkdir -p with mode 0700, then checks that `dir` is a directory we may use.
absl::Status MakeDataDir(const std::string& dir) {
  if (dir.empty()) return absl::InvalidArgumentError("the data dir path is empty");
  for (size_t slash = dir.find('/', 1);; slash = dir.find('/', slash + 1)) {
    const std::string prefix = dir.substr(0, slash);
    if (mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      const int err = errno;
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot create data dir ", dir,
          prefix == dir ? "" : absl::StrCat(" (at ", prefix, ")"), ": ", ErrnoText(err),
          "; check the path and its permissions"));
    }
    if (slash == std::string::npos) break;
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) {
    const int err = errno;
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read data dir ", dir, ": ", ErrnoText(err)));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("data dir ", dir, " is not a directory; choose another --data_dir"));
  }
  if (access(dir.c_str(), R_OK | W_OK | X_OK) != 0) {
    const int err = errno;
    return absl::FailedPreconditionError(absl::StrCat(
        "data dir ", dir, " is not readable and writable by this process: ",
        ErrnoText(err), "; fix its owner or mode"));
  }
  return absl::OkStatus();
}

// What an effect names, for error messages.
std::string EffectText(const Effect& effect) {
  struct Text {
    std::string operator()(const engine::SessionOpened& e) {
      return absl::StrCat("SessionOpened of session ", e.session);
    }
    std::string operator()(const engine::SessionEnded& e) {
      return absl::StrCat("SessionEnded of session ", e.session);
    }
    std::string operator()(const engine::SemaphoreCreated& e) {
      return absl::StrCat("SemaphoreCreated of '", e.name, "'");
    }
    std::string operator()(const engine::SemaphoreErased& e) {
      return absl::StrCat("SemaphoreErased of '", e.name, "'");
    }
    std::string operator()(const engine::HolderAdded& e) {
      return absl::StrCat("HolderAdded of '", e.name, "' for session ", e.session);
    }
    std::string operator()(const engine::HolderRemoved& e) {
      return absl::StrCat("HolderRemoved of '", e.name, "' for session ", e.session);
    }
    std::string operator()(const engine::WaiterQueued& e) {
      return absl::StrCat("WaiterQueued of waiter ", e.waiter, " on '", e.name,
                          "' for session ", e.session);
    }
    std::string operator()(const engine::WaiterRemoved& e) {
      return absl::StrCat("WaiterRemoved of waiter ", e.waiter);
    }
    std::string operator()(const engine::TokenHighWater& e) {
      return absl::StrCat("TokenHighWater of ", e.high_water);
    }
    std::string operator()(const engine::CommandOutcome& e) {
      return absl::StrCat("CommandOutcome of command ", e.seq, " of session ", e.session);
    }
    std::string operator()(const engine::CommandsAcked& e) {
      return absl::StrCat("CommandsAcked of ", e.seqs.size(), " commands of session ",
                          e.session);
    }
  };
  return std::visit(Text{}, effect);
}

}  // namespace

// Every statement the store runs, prepared once at open.
struct SqliteStore::Statements {
  Statement begin;
  Statement commit;
  Statement rollback;
  Statement insert_session;
  Statement delete_session;
  Statement insert_semaphore;
  Statement delete_semaphore;
  Statement insert_or_replace_holder;
  Statement delete_holder;
  Statement insert_waiter;
  Statement delete_waiter;
  Statement raise_last_seq;
  Statement insert_outcome;
  Statement delete_outcome;
  Statement delete_session_outcomes;
  Statement raise_meta;  // value = max(value, ?2) for key ?1, as unsigned 64-bit
  Statement begin_read;
  Statement select_sessions;
  Statement select_semaphores;
  Statement select_holders_by_grant;
  Statement select_waiters_by_id;
  Statement select_outcomes;
  Statement select_meta;

  absl::Status Prepare(sqlite3* db) {
    const std::pair<Statement*, const char*> all[] = {
        {&begin, "BEGIN IMMEDIATE"},
        {&commit, "COMMIT"},
        {&rollback, "ROLLBACK"},
        {&insert_session,
         "INSERT INTO sessions (id, secret, client_name, peer, ttl_ns, last_seq) "
         "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"},
        {&delete_session, "DELETE FROM sessions WHERE id = ?1"},
        {&insert_semaphore, "INSERT INTO semaphores (name, permit_limit) VALUES (?1, ?2)"},
        {&delete_semaphore, "DELETE FROM semaphores WHERE name = ?1"},
        {&insert_or_replace_holder,
         "INSERT OR REPLACE INTO holders (name, session, permits, fencing_token, since_ns) "
         "VALUES (?1, ?2, ?3, ?4, ?5)"},
        {&delete_holder, "DELETE FROM holders WHERE name = ?1 AND session = ?2"},
        {&insert_waiter,
         "INSERT INTO waiters (id, name, session, wait_for_clear, permits, deadline_ns, "
         "enqueued_ns, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"},
        {&delete_waiter, "DELETE FROM waiters WHERE id = ?1"},
        // Seqs count up from 1 per session: they stay far below 2^63, so signed
        // comparison is right.
        {&raise_last_seq,
         "UPDATE sessions SET last_seq = ?2 WHERE id = ?1 AND last_seq < ?2"},
        {&insert_outcome,
         "INSERT INTO outcomes (session, seq, kind, code, message, acquired, already_held, "
         "fencing_token, permits, grant_ns, released, clear) "
         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"},
        {&delete_outcome, "DELETE FROM outcomes WHERE session = ?1 AND seq = ?2"},
        {&delete_session_outcomes, "DELETE FROM outcomes WHERE session = ?1"},
        // Unsigned: a session id of 2^63 or more is kept as a negative int64, and a
        // signed max() would never raise last_session to it.
        {&raise_meta,
         "UPDATE meta SET value = ?2 WHERE key = ?1 AND CASE WHEN (value < 0) = (?2 < 0) "
         "THEN value < ?2 ELSE value >= 0 END"},
        {&begin_read, "BEGIN DEFERRED"},
        {&select_sessions,
         "SELECT id, secret, client_name, peer, ttl_ns, last_seq FROM sessions ORDER BY id"},
        {&select_semaphores, "SELECT name, permit_limit FROM semaphores ORDER BY name"},
        {&select_holders_by_grant,
         "SELECT name, session, permits, fencing_token, since_ns FROM holders "
         "ORDER BY grant_seq"},
        {&select_waiters_by_id,
         "SELECT id, name, session, wait_for_clear, permits, deadline_ns, enqueued_ns, seq "
         "FROM waiters ORDER BY id"},
        {&select_outcomes,
         "SELECT session, seq, kind, code, message, acquired, already_held, fencing_token, "
         "permits, grant_ns, released, clear FROM outcomes ORDER BY session, seq"},
        {&select_meta, "SELECT key, value FROM meta"},
    };
    for (const auto& [stmt, sql] : all) {
      absl::StatusOr<Statement> prepared = Statement::Prepare(db, sql);
      if (!prepared.ok()) return prepared.status();
      *stmt = std::move(*prepared);
    }
    return absl::OkStatus();
  }
};

SqliteStore::SqliteStore(std::string dir, std::unique_ptr<DataDirLock> lock)
    : dir_(std::move(dir)), path_(dir_ + "/semaphored.db"), lock_(std::move(lock)) {}

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& dir) {
  if (absl::Status s = MakeDataDir(dir); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<DataDirLock>> lock = DataDirLock::Acquire(dir);
  if (!lock.ok()) return lock.status();
  std::unique_ptr<SqliteStore> store(new SqliteStore(dir, std::move(*lock)));
  absl::MutexLock l(&store->mu_);
  if (absl::Status s = store->OpenDatabase(); !s.ok()) return s;
  return store;
}

absl::Status SqliteStore::OpenDatabase() {
  // Created here, not by SQLite, so that it is 0600 from the start (it holds session
  // secrets); SQLite gives the -wal and -shm files the database file's mode.
  const int fd = open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot open data dir file ", path_, ": ", ErrnoText(err),
        "; check its owner and mode"));
  }
  close(fd);
  const int rc = sqlite3_open_v2(path_.c_str(), &db_,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    return SqliteStatus(db_, rc, absl::StrCat("cannot open data dir file ", path_));
  }
  sqlite3_extended_result_codes(db_, 1);
  if (absl::Status s = PrepareSchema(db_, dir_, path_); !s.ok()) return s;
  stmts_ = std::make_unique<Statements>();
  return stmts_->Prepare(db_);
}

SqliteStore::~SqliteStore() {
  absl::MutexLock l(&mu_);
  stmts_.reset();  // statements first: a connection with live statements stays open
  sqlite3_close(db_);
}

std::string SqliteStore::Describe() const { return "sqlite " + path_; }

absl::Status SqliteStore::Commit(const engine::EffectBatch& batch) {
  absl::MutexLock l(&mu_);
  if (!broken_.ok()) return broken_;
  if (absl::Status s = stmts_->begin.Run(); !s.ok()) return s;
  const size_t count = batch.effects.size();
  for (size_t i = 0; i < count; ++i) {
    if (absl::Status s = Apply(batch.effects[i]); !s.ok()) {
      absl::Status error(s.code(), absl::StrCat("effect ", i + 1, " of ", count, " (",
                                                EffectText(batch.effects[i]), "): ",
                                                s.message(), "; the batch was not committed"));
      if (absl::Status r = Rollback(); !r.ok()) return r;
      return error;
    }
  }
  if (absl::Status s = stmts_->commit.Run(); !s.ok()) {
    broken_ = absl::Status(s.code(), absl::StrCat("committing to ", path_, " failed: ",
                                                  s.message(), "; restart semaphored"));
    // SQLite keeps the transaction open after some COMMIT failures: end it.
    if (!sqlite3_get_autocommit(db_)) Rollback().IgnoreError();
    return broken_;
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::Rollback() {
  if (absl::Status s = stmts_->rollback.Run(); !s.ok()) {
    broken_ = absl::Status(s.code(), absl::StrCat("rolling back in ", path_, " failed: ",
                                                  s.message(), "; restart semaphored"));
    return broken_;
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::Apply(const Effect& effect) {
  Statements& st = *stmts_;
  // A removal that finds nothing: the effects contradict the stored state.
  auto remove = [](Statement& stmt) -> absl::Status {
    if (absl::Status s = stmt.Run(); !s.ok()) return s;
    if (stmt.Changes() != 1) return absl::InternalError("it is not stored");
    return absl::OkStatus();
  };
  if (const auto* e = std::get_if<engine::SessionOpened>(&effect)) {
    st.insert_session.BindUint(1, e->session).BindBlob(2, e->secret)
        .BindText(3, e->client_name).BindText(4, e->peer).BindDuration(5, e->ttl)
        .BindUint(6, e->last_seq);
    if (absl::Status s = st.insert_session.Run(); !s.ok()) return s;
    return st.raise_meta.BindText(1, "last_session").BindUint(2, e->session).Run();
  }
  if (const auto* e = std::get_if<engine::SessionEnded>(&effect)) {
    // Its kept outcomes go with it.
    if (absl::Status s = st.delete_session_outcomes.BindUint(1, e->session).Run(); !s.ok()) {
      return s;
    }
    return remove(st.delete_session.BindUint(1, e->session));
  }
  if (const auto* e = std::get_if<engine::SemaphoreCreated>(&effect)) {
    return st.insert_semaphore.BindText(1, e->name).BindInt(2, e->limit).Run();
  }
  if (const auto* e = std::get_if<engine::SemaphoreErased>(&effect)) {
    return remove(st.delete_semaphore.BindText(1, e->name));
  }
  if (const auto* e = std::get_if<engine::HolderAdded>(&effect)) {
    return st.insert_or_replace_holder.BindText(1, e->name).BindUint(2, e->session)
        .BindInt(3, e->permits).BindUint(4, e->fencing_token).BindTime(5, e->since).Run();
  }
  if (const auto* e = std::get_if<engine::HolderRemoved>(&effect)) {
    return remove(st.delete_holder.BindText(1, e->name).BindUint(2, e->session));
  }
  if (const auto* e = std::get_if<engine::WaiterQueued>(&effect)) {
    st.insert_waiter.BindUint(1, e->waiter).BindText(2, e->name).BindUint(3, e->session)
        .BindInt(4, e->wait_for_clear ? 1 : 0).BindInt(5, e->permits)
        .BindTime(6, e->deadline).BindTime(7, e->enqueued).BindUint(8, e->seq);
    if (absl::Status s = st.insert_waiter.Run(); !s.ok()) return s;
    if (e->seq != 0) {
      if (absl::Status s = st.raise_last_seq.BindUint(1, e->session).BindUint(2, e->seq).Run();
          !s.ok()) {
        return s;
      }
    }
    return st.raise_meta.BindText(1, "last_waiter").BindUint(2, e->waiter).Run();
  }
  if (const auto* e = std::get_if<engine::WaiterRemoved>(&effect)) {
    return remove(st.delete_waiter.BindUint(1, e->waiter));
  }
  if (const auto* e = std::get_if<engine::CommandOutcome>(&effect)) {
    st.insert_outcome.BindUint(1, e->session).BindUint(2, e->seq)
        .BindInt(3, static_cast<int64_t>(e->kind)).BindInt(4, static_cast<int64_t>(e->code))
        .BindText(5, e->message).BindInt(6, e->acquired ? 1 : 0)
        .BindInt(7, e->already_held ? 1 : 0).BindUint(8, e->grant.fencing_token)
        .BindInt(9, e->grant.permits).BindTime(10, e->grant.grant_time)
        .BindInt(11, e->released).BindInt(12, e->clear ? 1 : 0);
    if (absl::Status s = st.insert_outcome.Run(); !s.ok()) return s;
    return st.raise_last_seq.BindUint(1, e->session).BindUint(2, e->seq).Run();
  }
  if (const auto* e = std::get_if<engine::CommandsAcked>(&effect)) {
    for (const uint64_t seq : e->seqs) {
      if (absl::Status s = remove(st.delete_outcome.BindUint(1, e->session).BindUint(2, seq));
          !s.ok()) {
        return absl::Status(s.code(), absl::StrCat("outcome of command ", seq, ": ", s.message()));
      }
    }
    return absl::OkStatus();
  }
  const auto& e = std::get<engine::TokenHighWater>(effect);
  return st.raise_meta.BindText(1, "token_high_water").BindUint(2, e.high_water).Run();
}

absl::StatusOr<engine::StoredState> SqliteStore::Load() {
  absl::MutexLock l(&mu_);
  Statements& st = *stmts_;
  // One read transaction: the tables are read as of one moment.
  if (absl::Status s = st.begin_read.Run(); !s.ok()) return s;
  absl::StatusOr<engine::StoredState> state = [&]() -> absl::StatusOr<engine::StoredState> {
    engine::StoredState out;
    absl::StatusOr<bool> row;
    while ((row = st.select_sessions.Step()).ok() && *row) {
      engine::SessionOpened& s = out.sessions.emplace_back();
      s.session = st.select_sessions.Uint(0);
      s.secret = st.select_sessions.Blob(1);
      s.client_name = st.select_sessions.Text(2);
      s.peer = st.select_sessions.Text(3);
      s.ttl = st.select_sessions.Duration(4);
      s.last_seq = st.select_sessions.Uint(5);
    }
    if (!row.ok()) return row.status();
    absl::flat_hash_map<std::string, size_t> index;  // semaphore name -> slot in out
    while ((row = st.select_semaphores.Step()).ok() && *row) {
      engine::StoredSemaphore& sem = out.semaphores.emplace_back();
      sem.name = st.select_semaphores.Text(0);
      sem.limit = static_cast<int32_t>(st.select_semaphores.Int(1));
      index.emplace(sem.name, out.semaphores.size() - 1);
    }
    if (!row.ok()) return row.status();
    auto semaphore = [&](absl::string_view name) -> engine::StoredSemaphore* {
      auto it = index.find(name);
      return it == index.end() ? nullptr : &out.semaphores[it->second];
    };
    Statement& holders = st.select_holders_by_grant;
    while ((row = holders.Step()).ok() && *row) {
      engine::StoredSemaphore* sem = semaphore(holders.TextView(0));
      if (sem == nullptr) {
        absl::Status error = absl::DataLossError(absl::StrCat(
            "data dir file ", path_, " has a holder of semaphore '", holders.TextView(0),
            "', which it does not store; restore the file from a backup"));
        holders.Run().IgnoreError();
        return error;
      }
      sem->holders.push_back(engine::StoredHolder{
          holders.Uint(1), static_cast<int32_t>(holders.Int(2)), holders.Uint(3),
          holders.Time(4)});
    }
    if (!row.ok()) return row.status();
    Statement& waiters = st.select_waiters_by_id;
    while ((row = waiters.Step()).ok() && *row) {
      engine::StoredSemaphore* sem = semaphore(waiters.TextView(1));
      if (sem == nullptr) {
        absl::Status error = absl::DataLossError(absl::StrCat(
            "data dir file ", path_, " has a waiter on semaphore '", waiters.TextView(1),
            "', which it does not store; restore the file from a backup"));
        waiters.Run().IgnoreError();
        return error;
      }
      sem->waiters.push_back(engine::StoredWaiter{
          waiters.Uint(0), waiters.Uint(2), waiters.Int(3) != 0,
          static_cast<int32_t>(waiters.Int(4)), waiters.Time(5), waiters.Time(6),
          waiters.Uint(7)});
    }
    if (!row.ok()) return row.status();
    Statement& outcomes = st.select_outcomes;
    while ((row = outcomes.Step()).ok() && *row) {
      engine::CommandOutcome& o = out.outcomes.emplace_back();
      o.session = outcomes.Uint(0);
      o.seq = outcomes.Uint(1);
      o.kind = static_cast<engine::CommandKind>(outcomes.Int(2));
      o.code = static_cast<absl::StatusCode>(outcomes.Int(3));
      o.message = outcomes.Text(4);
      o.acquired = outcomes.Int(5) != 0;
      o.already_held = outcomes.Int(6) != 0;
      o.grant.fencing_token = outcomes.Uint(7);
      o.grant.permits = static_cast<int32_t>(outcomes.Int(8));
      o.grant.grant_time = outcomes.Time(9);
      o.released = static_cast<int32_t>(outcomes.Int(10));
      o.clear = outcomes.Int(11) != 0;
    }
    if (!row.ok()) return row.status();
    while ((row = st.select_meta.Step()).ok() && *row) {
      const absl::string_view key = st.select_meta.TextView(0);
      const uint64_t value = st.select_meta.Uint(1);
      if (key == "token_high_water") out.token_high_water = value;
      if (key == "last_waiter") out.last_waiter = value;
      if (key == "last_session") out.last_session = value;
    }
    if (!row.ok()) return row.status();
    return out;
  }();
  // COMMIT of a read transaction only ends it.
  if (absl::Status s = st.commit.Run(); !s.ok() && state.ok()) return s;
  return state;
}

}  // namespace semaphored::store
