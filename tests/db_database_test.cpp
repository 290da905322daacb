// Opening the database: every migration applied once with its version
// recorded, a newer database refused, and the run lock.
#include <gtest/gtest.h>

#include "db/database.h"
#include "db/schema.h"
#include "test_util.h"
#include "util/error.h"

namespace recs {
namespace {

using test::TempDir;

int latest_version() { return db::migrations().back().version; }

std::string tables(const std::filesystem::path& db) {
  return test::sqlite(db,
                      "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_schema "
                      "WHERE type = 'table' ORDER BY name);");
}

TEST(DbMigrations, AreNumberedInOrderFromOne) {
  const auto& all = db::migrations();
  ASSERT_FALSE(all.empty());
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].version, static_cast<int>(i) + 1) << all[i].name;
  }
}

TEST(DbMigrations, AFreshDatabaseGetsEveryMigrationAndRecordsTheVersion) {
  TempDir dir;
  {
    auto db = db::open(dir / "a.db");
    EXPECT_EQ(db::schema_version(*db), latest_version());
    EXPECT_EQ(db->execAndGet("PRAGMA journal_mode").getString(), "wal");
  }
  // Tables of the first migration and of the last one.
  EXPECT_EQ(tables(dir / "a.db"),
            "cluster_popular excluded_movies kept_sets models movie_clusters movie_stats movies "
            "publication "
            "ratings recommendations runs similar_movies user_clusters\n");
  EXPECT_EQ(test::sqlite(dir / "a.db", "PRAGMA user_version;"),
            std::to_string(latest_version()) + "\n");
}

TEST(DbMigrations, ReopeningAppliesNothingTwiceAndKeepsTheData) {
  TempDir dir;
  {
    auto db = db::open(dir / "a.db");
    db->exec("INSERT INTO movies VALUES (1, 'a', 'b')");
  }
  // A migration run twice would fail (ALTER TABLE ADD COLUMN of a column
  // that exists) or lose the row.
  auto db = db::open(dir / "a.db");
  EXPECT_EQ(db::schema_version(*db), latest_version());
  EXPECT_EQ(db->execAndGet("SELECT count(*) FROM movies").getInt(), 1);
  db::migrate(*db);
  EXPECT_EQ(db::schema_version(*db), latest_version());
}

TEST(DbMigrations, ANewerDatabaseIsRefused) {
  TempDir dir;
  {
    auto db = db::open(dir / "a.db");
    db->exec("PRAGMA user_version = " + std::to_string(latest_version() + 1));
    EXPECT_THROW(db::migrate(*db), DatabaseError);
  }
  try {
    db::open(dir / "a.db");
    FAIL() << "a database of a newer pipeline must be refused";
  } catch (const DatabaseError& e) {
    EXPECT_NE(std::string(e.what()).find("is newer than this pipeline's"), std::string::npos)
        << e.what();
    // It names the file, for an operator with several databases.
    EXPECT_EQ(std::string(e.what()).rfind((dir / "a.db").string() + ": database schema version", 0),
              0u)
        << e.what();
  }
  // The refusal changed nothing.
  EXPECT_EQ(test::sqlite(dir / "a.db", "PRAGMA user_version;"),
            std::to_string(latest_version() + 1) + "\n");
  EXPECT_THROW(db::open_read_only(dir / "a.db"), DatabaseError);
  EXPECT_NO_THROW(db::open_read_only(dir / "a.db", db::SchemaCheck::kAnyVersion));
}

TEST(DbMigrations, UpgradesAVersionOneDatabaseKeepingItsData) {
  TempDir dir;
  {
    SQLite::Database old((dir / "v1.db").string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    ASSERT_EQ(db::migrations().front().version, 1);
    old.exec(db::migrations().front().sql);
    old.exec("PRAGMA user_version = 1");
    old.exec("INSERT INTO recommendations VALUES (7, 1, 42, 0.5)");
  }
  EXPECT_THROW(db::open_read_only(dir / "v1.db"), DatabaseError);  // not migrated yet
  auto db = db::open(dir / "v1.db");
  EXPECT_EQ(db::schema_version(*db), latest_version());
  EXPECT_EQ(db->execAndGet("SELECT movie_id FROM recommendations WHERE user_id = 7").getInt(), 42);
  EXPECT_EQ(db->execAndGet("SELECT count(*) FROM similar_movies").getInt(), 0);
  EXPECT_EQ(db->execAndGet("SELECT count(*) FROM pragma_table_info('publication') WHERE name = "
                           "'similar_k'")
                .getInt(),
            1);
}

TEST(DbOpen, ReadOnlyNeedsAnExistingDatabase) {
  TempDir dir;
  EXPECT_THROW(db::open_read_only(dir / "missing.db"), DatabaseError);
  EXPECT_FALSE(std::filesystem::exists(dir / "missing.db"));
}

TEST(DbRunLock, ASecondLockOnTheSameDatabaseFailsWithTheLockCode) {
  TempDir dir;
  {
    db::RunLock first(dir / "x.db");
    try {
      db::RunLock second(dir / "x.db");
      FAIL() << "the second lock must be refused";
    } catch (const LockedError& e) {
      EXPECT_EQ(static_cast<int>(e.code()), 7);
      EXPECT_NE(std::string(e.what()).find("another pipeline run is using this database"),
                std::string::npos);
    }
    db::RunLock other(dir / "y.db");  // another database is not locked
  }
  db::RunLock again(dir / "x.db");  // released with its holder
}

TEST(DbBackgroundCheckpoint, CopiesCommittedPagesIntoTheFileWhileTheRunWrites) {
  TempDir dir;
  const auto path = dir / "a.db";
  auto db = db::open(path);
  db->exec("CREATE TABLE big (k INTEGER PRIMARY KEY, v TEXT)");
  {
    SQLite::Transaction tx(*db);
    SQLite::Statement insert(*db, "INSERT INTO big (v) VALUES (hex(randomblob(500)))");
    for (int i = 0; i < 20000; ++i) {  // about 20 MB, all in the WAL (no autocheckpoint)
      insert.exec();
      insert.reset();
    }
    tx.commit();
  }
  const auto before = std::filesystem::file_size(path);
  db::BackgroundCheckpoint background(path);
  db->exec("CREATE TABLE during (k INTEGER)");  // the run writes on meanwhile
  EXPECT_GE(background.wait(), 0.0);
  const auto after = std::filesystem::file_size(path);
  EXPECT_LT(before, 1u << 20);
  EXPECT_GT(after, 18u << 20);  // the pages are in the database file now
  EXPECT_EQ(db->execAndGet("SELECT count(*) FROM big").getInt(), 20000);
}

TEST(DbBackgroundCheckpoint, AFailureOnlyWarns) {
  TempDir dir;
  db::BackgroundCheckpoint background(dir / "missing.db");  // no such database: cannot open
  EXPECT_GE(background.wait(), 0.0);
  EXPECT_FALSE(std::filesystem::exists(dir / "missing.db"));
}

}  // namespace
}  // namespace recs
