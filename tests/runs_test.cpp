// The run history: the refused status and the summary column, on a fresh
// database and on one migrated from schema version 2 with runs that models
// and the publication still reference.
#include "db/runs.h"

#include <gtest/gtest.h>

#include "db/database.h"
#include "db/schema.h"
#include "test_util.h"

namespace recs {
namespace {

using test::TempDir;

TEST(RunRecord, ARefusalIsItsOwnStatusWithItsMessage) {
  TempDir dir;
  auto db = db::open(dir / "a.db");
  db::RunRecord run(*db, "import", "database: a.db\n");
  const std::int64_t id = run.id();
  run.count("ratings", 0);
  run.summary("{\"import\":null}");
  run.refuse("ratings.csv:17: rating is not a number: 'x'");
  EXPECT_EQ(test::sqlite(dir / "a.db",
                         "SELECT run_id, command, status, message, summary, "
                         "finished_at IS NOT NULL FROM runs;"),
            std::to_string(id) +
                "|import|refused|ratings.csv:17: rating is not a number: 'x'|"
                "{\"import\":null}|1\n");
}

TEST(RunRecord, TheStatusStaysChecked) {
  TempDir dir;
  auto db = db::open(dir / "a.db");
  EXPECT_THROW(db->exec("INSERT INTO runs (command, started_at, status, config) "
                        "VALUES ('x', 'now', 'bogus', '')"),
               SQLite::Exception);
}

TEST(RunRecord, MigratingAVersionTwoDatabaseKeepsItsRunsAndTheirReferences) {
  TempDir dir;
  const auto path = dir / "v2.db";
  {
    SQLite::Database old(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    old.exec("PRAGMA journal_mode = WAL");
    old.exec("PRAGMA foreign_keys = ON");
    for (const auto& m : db::migrations()) {
      if (m.version > 2) break;
      old.exec(m.sql);
    }
    old.exec("PRAGMA user_version = 2");
    old.exec(
        "INSERT INTO runs (run_id, command, started_at, status, config) "
        "VALUES (1, 'run', '2026-01-01T00:00:00Z', 'succeeded', 'c')");
    old.exec(
        "INSERT INTO models (model_id, run_id, created_at, type, dims, user_count, movie_count, "
        "user_ids, movie_ids, user_vectors, movie_vectors) "
        "VALUES (1, 1, 'now', 'dot', 1, 0, 0, x'', x'', x'', x'')");
    old.exec(
        "INSERT INTO publication (id, run_id, model_id, published_at, user_count, row_count, "
        "top_n) VALUES (1, 1, 1, 'now', 0, 0, 10)");
  }
  {
    auto db = db::open(path);  // migrates
    EXPECT_EQ(db::schema_version(*db), db::migrations().back().version);
    // This connection sees the widened status at once.
    db::RunRecord run(*db, "run", "c");
    run.refuse("missing.csv: file not found");
  }
  EXPECT_EQ(test::sqlite(path,
                         "PRAGMA integrity_check; PRAGMA foreign_key_check; "
                         "SELECT run_id, status, summary FROM runs ORDER BY run_id; "
                         "SELECT count(*) FROM models JOIN runs USING (run_id);"),
            "ok\n1|succeeded|{}\n2|refused|{}\n1\n");
  // The references still name runs, and foreign keys still hold.
  EXPECT_EQ(test::sqlite(
                path,
                "SELECT count(*) >= 2 FROM sqlite_schema WHERE name IN ('models', 'publication') "
                "AND sql LIKE '%REFERENCES runs (run_id)%';"),
            "1\n");
  auto r = test::run_command("sqlite3 " + test::quoted(path) +
                             " 'PRAGMA foreign_keys = ON; INSERT INTO models (model_id, run_id, "
                             "created_at, type, dims, user_count, movie_count, user_ids, "
                             "movie_ids, user_vectors, movie_vectors) VALUES (2, 99, 0, 0, 0, 0, "
                             "0, 0, 0, 0, 0);'");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("FOREIGN KEY constraint failed"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace recs
