// SqliteStore formats: a format-1 data dir (before command seqs), written here with
// format 1's own SQL, opens as format 2 and loads everything it kept, unsequenced;
// the migrated store then keeps outcomes and seqs like a new one.
#include <sqlite3.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/sqlite_schema.h"
#include "store/sqlite_store.h"
#include "tests/common/status_matchers.h"
#include "tests/store/store_model.h"

namespace semaphored::store {
namespace {

using ::semaphored::store::testing::Dump;
using ::semaphored::store::testing::StoreModel;
using ::semaphored::store::testing::TempDir;
using ::semaphored::testing::IsOk;

// Format 1 as released (store/sqlite_schema.cc before format 2), with some state: two
// sessions, a semaphore held by one with the other queued, a wait-for-clear.
constexpr const char* kFormat1WithState = R"sql(
BEGIN IMMEDIATE;
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES
  ('token_high_water', 7), ('last_waiter', 12), ('last_session', 22);
CREATE TABLE sessions (
  id INTEGER PRIMARY KEY, secret BLOB NOT NULL, client_name TEXT NOT NULL,
  peer TEXT NOT NULL, ttl_ns INTEGER NOT NULL);
CREATE TABLE semaphores (name TEXT PRIMARY KEY, permit_limit INTEGER NOT NULL);
CREATE TABLE holders (
  grant_seq INTEGER PRIMARY KEY,
  name TEXT NOT NULL REFERENCES semaphores (name),
  session INTEGER NOT NULL REFERENCES sessions (id),
  permits INTEGER NOT NULL, fencing_token INTEGER NOT NULL, since_ns INTEGER NOT NULL,
  UNIQUE (name, session));
CREATE INDEX holders_by_session ON holders (session);
CREATE TABLE waiters (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL REFERENCES semaphores (name),
  session INTEGER NOT NULL REFERENCES sessions (id),
  wait_for_clear INTEGER NOT NULL, permits INTEGER NOT NULL,
  deadline_ns INTEGER NOT NULL, enqueued_ns INTEGER NOT NULL);
CREATE INDEX waiters_by_name ON waiters (name);
CREATE INDEX waiters_by_session ON waiters (session);
INSERT INTO sessions VALUES (21, X'0102', 'a', 'host-a', 30000000000);
INSERT INTO sessions VALUES (22, X'0304', 'b', 'host-b', 60000000000);
INSERT INTO semaphores VALUES ('printer', 1);
INSERT INTO holders (name, session, permits, fencing_token, since_ns)
  VALUES ('printer', 21, 1, 7, 1780000000000000000);
INSERT INTO waiters VALUES (11, 'printer', 22, 0, 1, 1780000060000000000, 1780000001000000000);
INSERT INTO waiters VALUES (12, 'printer', 22, 1, 0, 1780000060000000000, 1780000002000000000);
PRAGMA user_version = 1;
COMMIT;
)sql";

void RawSql(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
}

int64_t UserVersion(const std::string& path) {
  sqlite3* db = nullptr;
  int64_t version = -1;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) return version;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    version = sqlite3_column_int64(stmt, 0);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return version;
}

// What kFormat1WithState holds, as a model built from effects.
StoreModel Format1State() {
  StoreModel m;
  const absl::Time t = absl::FromUnixNanos(1'780'000'000'000'000'000);
  engine::EffectBatch b;
  b.effects.push_back(engine::SessionOpened{21, "\x01\x02", "a", "host-a", absl::Seconds(30)});
  b.effects.push_back(engine::SessionOpened{22, "\x03\x04", "b", "host-b", absl::Seconds(60)});
  b.effects.push_back(engine::SemaphoreCreated{"printer", 1});
  b.effects.push_back(engine::HolderAdded{"printer", 21, 1, 7, t});
  b.effects.push_back(engine::WaiterQueued{11, "printer", 22, false, 1, t + absl::Seconds(60),
                                           t + absl::Seconds(1)});
  b.effects.push_back(engine::WaiterQueued{12, "printer", 22, true, 0, t + absl::Seconds(60),
                                           t + absl::Seconds(2)});
  b.effects.push_back(engine::TokenHighWater{7});
  m.Apply(b);
  return m;
}

TEST(SqliteStoreMigrationTest, Format1DataDirMigratesAndLoadsUnsequenced) {
  static_assert(kSqliteFormat == 2, "this test migrates format 1 to 2");
  TempDir tmp;
  const std::string db = tmp.path() + "/semaphored.db";
  RawSql(db, kFormat1WithState);
  ASSERT_EQ(UserVersion(db), 1);

  StoreModel model = Format1State();
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteStore> store, SqliteStore::Open(tmp.path()));
    ASSERT_OK_AND_ASSIGN(engine::StoredState loaded, store->Load());
    EXPECT_EQ(Dump(loaded), Dump(model.State()));
    EXPECT_TRUE(loaded.outcomes.empty());
    for (const auto& s : loaded.sessions) EXPECT_EQ(s.last_seq, 0u);

    // The migrated store keeps what format 2 adds.
    engine::EffectBatch batch;
    engine::CommandOutcome outcome;
    outcome.session = 21;
    outcome.seq = 3;
    outcome.kind = engine::CommandKind::kClear;
    outcome.released = 1;
    batch.effects.push_back(outcome);
    batch.effects.push_back(engine::WaiterQueued{13, "printer", 21, true, 0,
                                                 absl::InfiniteFuture(),
                                                 absl::FromUnixSeconds(1'780'000'003), 4});
    ASSERT_THAT(store->Commit(batch), IsOk());
    model.Apply(batch);
  }
  // (Read once the store is closed: an open store holds the file exclusively.)
  EXPECT_EQ(UserVersion(db), 2);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteStore> store, SqliteStore::Open(tmp.path()));
  ASSERT_OK_AND_ASSIGN(engine::StoredState loaded, store->Load());
  EXPECT_EQ(Dump(loaded), Dump(model.State()));
  ASSERT_EQ(loaded.outcomes.size(), 1u);
  EXPECT_EQ(loaded.outcomes[0].released, 1);
  EXPECT_EQ(model.sessions().at(21).last_seq, 4u);
}

TEST(SqliteStoreMigrationTest, NewDataDirIsTheCurrentFormat) {
  TempDir tmp;
  { ASSERT_THAT(SqliteStore::Open(tmp.path()).status(), IsOk()); }
  EXPECT_EQ(UserVersion(tmp.path() + "/semaphored.db"), kSqliteFormat);
}

}  // namespace
}  // namespace semaphored::store
