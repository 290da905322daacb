// The kept sets on SQLite: a publish keeps the set it replaces (keep.sets),
// a rollback brings it back exactly, in one transaction that changes
// nothing when it fails; the web app's indexes, query plans and views
// follow the live tables; models a kept set came from are never pruned.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "db/database.h"
#include "db/model_store.h"
#include "db/publish.h"
#include "db/runs.h"
#include "db/sqlite.h"
#include "test_util.h"
#include "topn_fixtures.h"
#include "util/error.h"

namespace recs {
namespace {

using test::TempDir;

db::StoredModel tiny_model() {
  db::StoredModel m;
  m.type = "dot";
  m.user_ids = {1, 2};
  m.movie_ids = {1, 2};
  m.users = RowMatrix::Ones(2, 2);
  m.movies = RowMatrix::Ones(2, 2);
  return m;
}

struct Fixture {
  TempDir dir;
  std::unique_ptr<SQLite::Database> db = db::open(dir / "recs.db");
  std::vector<std::int64_t> user_ids = {11, 12, 13, 14, 15};
  std::vector<std::int64_t> movie_ids = {100, 200, 300, 400, 500, 600, 700};

  std::int64_t new_run() {
    db::RunRecord run(*db, "test", "");
    run.save();
    return run.id();
  }
  std::int64_t new_model(std::int64_t run, int keep = 10) {
    return db::sqlite_models(*db)->save(run, tiny_model(), "{}", keep, {}).model_id;
  }

  // Publishes a full set whose rows depend on `shift` (every table filled,
  // sizes varying with it); returns the publishing run.
  std::int64_t publish(int shift, int keep_sets, std::optional<std::int64_t> model = {}) {
    const std::int64_t run = new_run();
    auto p = db::sqlite_publisher(*db, keep_sets);
    const int users = 2 + shift % 4;
    const int n = 1 + shift % 3;
    EXPECT_TRUE(p->add(test::shifted_block(users, n, 7, shift), user_ids, movie_ids));
    EXPECT_TRUE(p->replace_similar(test::shifted_block(7, 2, 7, shift + 1), movie_ids, movie_ids));
    ClusterRows users_rows{{11, 12, 13}, {shift % 2, 1, 0}, {0.5f, 0.25f, 0.125f * shift}};
    ClusterRows movie_rows{{100, 200}, {1, shift % 2}, {0, 1.0f * shift}};
    p->replace_clusters(users_rows, movie_rows, {{0, 1, 100 + shift, 2, 4.5}, {1, 1, 200, 1, 3}});
    db::PublicationExtras extras;
    extras.similar_k = 2;
    extras.user_clusters = 2;
    extras.movie_clusters = 2;
    p->commit(run, model, n, extras);
    return run;
  }

  // Everything the web app can read, in full, as the sqlite3 client shows it.
  std::string live() {
    return test::sqlite(dir / "recs.db",
                        "SELECT * FROM recommendations ORDER BY user_id, rank;"
                        "SELECT * FROM similar_movies ORDER BY movie_id, rank;"
                        "SELECT * FROM user_clusters ORDER BY user_id;"
                        "SELECT * FROM movie_clusters ORDER BY movie_id;"
                        "SELECT * FROM cluster_popular ORDER BY cluster, rank;"
                        "SELECT * FROM publication;");
  }
  std::string tables() {
    return test::sqlite(dir / "recs.db",
                        "SELECT name FROM sqlite_schema WHERE name LIKE '%_kept%' "
                        "ORDER BY name;");
  }
};

TEST(DbKeptSets, RollbackRestoresExactlyThePreviousSetAndASecondOneSwapsBack) {
  Fixture f;
  const std::int64_t first = f.publish(1, 2);
  const std::string a = f.live();
  const std::int64_t second = f.publish(2, 2);
  const std::string b = f.live();
  ASSERT_NE(a, b);
  auto kept = db::sqlite_kept_sets(*f.db);
  ASSERT_EQ(kept->list().size(), 1u);
  EXPECT_EQ(kept->list()[0].run_id, first);

  const db::Rollback r = kept->rollback(std::nullopt);
  EXPECT_EQ(r.restored.run_id, first);
  ASSERT_TRUE(r.retired);
  EXPECT_EQ(r.retired->run_id, second);
  EXPECT_EQ(f.live(), a);  // the publication row too: same run, same published_at
  ASSERT_EQ(kept->list().size(), 1u);
  EXPECT_EQ(kept->list()[0].run_id, second);

  kept->rollback(std::nullopt);
  EXPECT_EQ(f.live(), b);
  EXPECT_EQ(test::sqlite(f.dir / "recs.db", "PRAGMA integrity_check;"), "ok\n");
}

TEST(DbKeptSets, NothingToRollBackToChangesNothing) {
  Fixture f;
  auto kept = db::sqlite_kept_sets(*f.db);
  EXPECT_THROW(kept->rollback(std::nullopt), NotFoundError);
  f.publish(1, 2);
  const std::string before = f.live();
  try {
    kept->rollback(std::nullopt);
    FAIL() << "only the live set exists";
  } catch (const NotFoundError& e) {
    EXPECT_NE(std::string(e.what()).find("nothing to roll back to"), std::string::npos);
  }
  EXPECT_EQ(f.live(), before);
  EXPECT_EQ(f.tables(), "");
}

TEST(DbKeptSets, KeepSetsOneKeepsNothingAndDropsWhatWasKept) {
  Fixture f;
  f.publish(1, 2);
  f.publish(2, 2);
  ASSERT_NE(f.tables(), "");
  const std::int64_t third = f.new_run();
  {
    auto p = db::sqlite_publisher(*f.db, 1);
    p->add(test::shifted_block(2, 2, 7, 3), f.user_ids, f.movie_ids);
    p->commit(third, std::nullopt, 2, {});
    ASSERT_EQ(p->removed().size(), 1u);
  }
  EXPECT_EQ(f.tables(), "");
  EXPECT_TRUE(db::sqlite_kept_sets(*f.db)->list().empty());
  EXPECT_EQ(test::sqlite(f.dir / "recs.db", "SELECT count(*) FROM recommendations;"), "4\n");
}

TEST(DbKeptSets, KeepsKeepSetsMinusOneAndRemovesTheOldest) {
  Fixture f;
  std::vector<std::int64_t> runs;
  for (int shift = 1; shift <= 3; ++shift) runs.push_back(f.publish(shift, 3));
  const std::int64_t fourth = f.new_run();
  std::vector<db::KeptSet> removed;
  {
    auto p = db::sqlite_publisher(*f.db, 3);
    p->add(test::shifted_block(2, 2, 7, 4), f.user_ids, f.movie_ids);
    p->commit(fourth, std::nullopt, 2, {});
    removed = p->removed();
  }
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0].run_id, runs[0]);
  auto kept = db::sqlite_kept_sets(*f.db)->list();
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].run_id, runs[2]);  // most recently retired first
  EXPECT_EQ(kept[1].run_id, runs[1]);
  // Six tables per kept set, no index on them, nothing left of the removed one.
  EXPECT_EQ(test::sqlite(f.dir / "recs.db",
                         "SELECT type, count(*) FROM sqlite_schema WHERE tbl_name LIKE "
                         "'%_kept%' GROUP BY type;"),
            "table|12\n");
}

TEST(DbKeptSets, RollbackToTheSetARunPublished) {
  Fixture f;
  const std::int64_t first = f.publish(1, 3);
  const std::string a = f.live();
  const std::int64_t second = f.publish(2, 3);
  const std::int64_t third = f.publish(3, 3);
  auto kept = db::sqlite_kept_sets(*f.db);
  EXPECT_THROW(kept->rollback(third), NotFoundError);  // live, not kept
  const db::Rollback r = kept->rollback(first);
  EXPECT_EQ(r.restored.run_id, first);
  EXPECT_EQ(f.live(), a);
  auto now = kept->list();
  ASSERT_EQ(now.size(), 2u);
  EXPECT_EQ(now[0].run_id, third);
  EXPECT_EQ(now[1].run_id, second);
}

TEST(DbKeptSets, AFailedRollbackLeavesEverythingAsItWas) {
  Fixture f;
  f.publish(1, 2);
  f.publish(2, 2);
  const std::string before = f.live();
  const std::string tables = f.tables();
  // The live set will be kept as set 2: a table in the way of its second
  // rename makes the rollback fail after recommendations was renamed.
  f.db->exec("CREATE TABLE similar_movies_kept2 (x)");
  try {
    db::sqlite_kept_sets(*f.db)->rollback(std::nullopt);
    FAIL() << "the rename must fail";
  } catch (const DatabaseError& e) {
    EXPECT_NE(std::string(e.what()).find(": rollback failed, the live set stays in place: "),
              std::string::npos)
        << e.what();
  }
  f.db->exec("DROP TABLE similar_movies_kept2");
  EXPECT_EQ(f.live(), before);
  EXPECT_EQ(f.tables(), tables);
  EXPECT_EQ(db::sqlite_kept_sets(*f.db)->list().size(), 1u);
  // The connection is usable and a later rollback works.
  db::sqlite_kept_sets(*f.db)->rollback(std::nullopt);
  EXPECT_NE(f.live(), before);
}

TEST(DbKeptSets, IndexesPlansAndViewsFollowTheLiveTables) {
  Fixture f;
  f.publish(1, 2);
  // A view the web app made on the live table keeps reading the live table.
  f.db->exec(
      "CREATE VIEW top_pick AS SELECT user_id, movie_id FROM recommendations WHERE rank = 1");
  const std::string view_a =
      test::sqlite(f.dir / "recs.db", "SELECT * FROM top_pick ORDER BY user_id;");
  f.publish(2, 2);
  const std::string view_b =
      test::sqlite(f.dir / "recs.db", "SELECT * FROM top_pick ORDER BY user_id;");
  EXPECT_NE(view_a, view_b);
  db::sqlite_kept_sets(*f.db)->rollback(std::nullopt);
  EXPECT_EQ(test::sqlite(f.dir / "recs.db", "SELECT * FROM top_pick ORDER BY user_id;"), view_a);
  EXPECT_EQ(test::sqlite(f.dir / "recs.db",
                         "SELECT sql FROM sqlite_schema WHERE name = "
                         "'top_pick';"),
            "CREATE VIEW top_pick AS SELECT user_id, movie_id FROM recommendations WHERE rank "
            "= 1\n");

  EXPECT_EQ(test::sqlite(f.dir / "recs.db",
                         "SELECT name, tbl_name FROM sqlite_schema WHERE type = 'index' AND sql "
                         "IS NOT NULL ORDER BY name;"),
            "movie_clusters_by_cluster|movie_clusters\nmovie_stats_by_rank|movie_stats\n"
            "movie_stats_served_by_rank|movie_stats\nuser_clusters_by_cluster|user_clusters\n");
  const std::string plan =
      test::sqlite(f.dir / "recs.db",
                   "EXPLAIN QUERY PLAN SELECT movie_id, score FROM recommendations "
                   "WHERE user_id = 12 ORDER BY rank;");
  EXPECT_NE(plan.find("SEARCH recommendations USING PRIMARY KEY (user_id=?)"), std::string::npos)
      << plan;
  EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << plan;
  // The restored tables keep the schema's keys and checks.
  EXPECT_THROW(f.db->exec("INSERT INTO recommendations VALUES (11, 1, 5, 0.5)"), SQLite::Exception);
  EXPECT_THROW(f.db->exec("INSERT INTO recommendations VALUES (99, 0, 5, 0.5)"), SQLite::Exception);
}

TEST(DbKeptSets, ThePublishedModelAndTheKeptSetsModelsAreNeverPruned) {
  Fixture f;
  auto models = db::sqlite_models(*f.db);
  EXPECT_EQ(models->published(), std::nullopt);
  const std::int64_t run = f.new_run();
  const std::int64_t m1 = f.new_model(run);
  f.publish(1, 2, m1);
  const std::int64_t m2 = f.new_model(run);
  f.publish(2, 2, m2);  // m1's set is kept now
  ASSERT_TRUE(models->published());
  EXPECT_EQ(models->published()->model_id, m2);
  EXPECT_EQ(db::sqlite_published(*f.db)->model_id(), m2);

  const std::int64_t m3 = f.new_model(run, 1);
  const db::SavedModel saved = models->save(run, tiny_model(), "{}", 1, {});
  ASSERT_EQ(saved.removed.size(), 1u);
  EXPECT_EQ(saved.removed[0].model_id, m3);
  EXPECT_EQ(saved.removed[0].type, "dot");
  std::vector<std::int64_t> ids;
  for (const auto& m : models->list()) ids.push_back(m.model_id);
  EXPECT_EQ(ids, (std::vector<std::int64_t>{saved.model_id, m2, m1}));
  EXPECT_EQ(models->get(m1).model_id, m1);
  try {
    models->get(m3);
    FAIL() << "model " << m3 << " was pruned";
  } catch (const NotFoundError& e) {
    EXPECT_NE(std::string(e.what()).find("model " + std::to_string(m3) + " is not kept (kept: " +
                                         std::to_string(saved.model_id) + ", " +
                                         std::to_string(m2) + ", " + std::to_string(m1) + ")"),
              std::string::npos)
        << e.what();
  }

  // After a rollback the restored set's model is the published one.
  db::sqlite_kept_sets(*f.db)->rollback(std::nullopt);
  EXPECT_EQ(models->published()->model_id, m1);
}

}  // namespace
}  // namespace recs
