// The publication and model repositories on SQLite: a publication rolls
// back unless committed and replaces the whole set when it is; what is live
// reads back (the gate's figure); models round-trip bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <optional>

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

// The defaults of keep.sets and keep.models.
constexpr int kKeepSets = 2;
constexpr int kKeepModels = 3;

struct Fixture {
  TempDir dir;
  std::unique_ptr<SQLite::Database> db = db::open(dir / "recs.db");
  std::vector<std::int64_t> user_ids = {11, 12, 13, 14};
  std::vector<std::int64_t> movie_ids = {100, 200, 300, 400, 500};

  std::int64_t new_run(const std::string& metrics_key = "", double value = 0) {
    db::RunRecord run(*db, "test", "");
    if (!metrics_key.empty()) run.metric(metrics_key, value);
    run.save();
    return run.id();
  }
  std::string live() {
    return test::sqlite(dir / "recs.db",
                        "SELECT count(*), count(DISTINCT user_id), max(rank) FROM recommendations;"
                        "SELECT count(*) FROM similar_movies; SELECT count(*) FROM user_clusters;"
                        "SELECT count(*) FROM cluster_popular;"
                        "SELECT run_id, user_count, row_count, top_n, similar_k FROM publication;");
  }
  // A full set: 4 users x 3, similar movies and clusters.
  void publish_first(std::int64_t run_id) {
    auto p = db::sqlite_publisher(*db, kKeepSets);
    EXPECT_TRUE(p->add(test::shifted_block(4, 3, 5), user_ids, movie_ids));
    EXPECT_TRUE(p->replace_similar(test::shifted_block(5, 2, 5), movie_ids, movie_ids));
    ClusterRows users{user_ids, {0, 0, 1, 1}, {0.1f, 0.2f, 0.3f, 0.4f}};
    ClusterRows movies{movie_ids, {0, 1, 0, 1, 0}, {0, 0, 0, 0, 0}};
    p->replace_clusters(users, movies, {{0, 1, 100, 2, 4.5}, {1, 1, 200, 1, 3.0}});
    db::PublicationExtras extras;
    extras.similar_k = 2;
    extras.user_clusters = 2;
    extras.movie_clusters = 2;
    p->commit(run_id, std::nullopt, 3, extras);
    EXPECT_EQ(p->rows(), 12);
    EXPECT_EQ(p->users(), 4);
  }
};

TEST(DbPublisher, AnUncommittedPublicationLeavesThePreviousSet) {
  Fixture f;
  const std::int64_t run = f.new_run();
  f.publish_first(run);
  const std::string before = f.live();
  {
    auto p = db::sqlite_publisher(*f.db, kKeepSets);
    p->add(test::shifted_block(2, 5, 5), f.user_ids, f.movie_ids);
    p->replace_similar(test::shifted_block(1, 1, 5), f.movie_ids, f.movie_ids);
    // A reader meanwhile still sees the complete old set.
    EXPECT_EQ(f.live(), before);
  }  // destroyed without commit
  EXPECT_EQ(f.live(), before);
  EXPECT_EQ(f.live(), "12|4|3\n10\n4\n2\n" + std::to_string(run) + "|4|12|3|2\n");
}

TEST(DbPublisher, ACommittedPublicationReplacesTheWholeSet) {
  Fixture f;
  f.publish_first(f.new_run());
  const std::int64_t second = f.new_run();
  {
    auto p = db::sqlite_publisher(*f.db, kKeepSets);
    EXPECT_TRUE(p->add(test::shifted_block(2, 5, 5), f.user_ids, f.movie_ids));
    p->commit(second, std::nullopt, 5, {});  // no extras: their tables are emptied
  }
  EXPECT_EQ(f.live(), "10|2|5\n0\n0\n0\n" + std::to_string(second) + "|2|10|5|\n");
  EXPECT_EQ(test::sqlite(f.dir / "recs.db",
                         "SELECT movie_id, score FROM recommendations WHERE user_id = 12 "
                         "ORDER BY rank LIMIT 2;"),
            "200|0.0\n300|-1.0\n");
}

TEST(DbPublisher, ANonFiniteScoreIsReported) {
  Fixture f;
  auto p = db::sqlite_publisher(*f.db, kKeepSets);
  TopNBlock b = test::shifted_block(2, 2, 5);
  b.scores[3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(p->add(b, f.user_ids, f.movie_ids));
}

TEST(DbPublisher, AFailureSaysThePreviousSetStays) {
  Fixture f;
  auto other = db::open(f.dir / "recs.db");
  f.db->setBusyTimeout(0);
  SQLite::Transaction holder(*other, SQLite::TransactionBehavior::IMMEDIATE);
  try {
    db::sqlite_publisher(*f.db, kKeepSets);
    FAIL() << "the write lock is held";
  } catch (const DatabaseError& e) {
    EXPECT_NE(std::string(e.what()).find(
                  ": publishing failed, the previous recommendations stay in place: "),
              std::string::npos)
        << e.what();
  }
}

TEST(DbPublishedSet, ReadsTheLiveSetAndItsRunsMetric) {
  Fixture f;
  auto published = db::sqlite_published(*f.db);
  EXPECT_EQ(published->top_n(), std::nullopt);
  EXPECT_EQ(published->run_metric("eval_ndcg@10"), std::nullopt);

  f.publish_first(f.new_run("eval_ndcg@10", 0.25));
  EXPECT_EQ(published->top_n(), 3);
  EXPECT_EQ(published->run_metric("eval_ndcg@10"), 0.25);
  EXPECT_EQ(published->run_metric("eval_ndcg@20"), std::nullopt);

  // A later run that did not evaluate, published: its (missing) figure.
  const std::int64_t later = f.new_run("train_loss", 1.5);
  f.new_run("eval_ndcg@10", 0.75);  // recorded, never published
  {
    auto p = db::sqlite_publisher(*f.db, kKeepSets);
    p->add(test::shifted_block(1, 1, 5), f.user_ids, f.movie_ids);
    p->commit(later, std::nullopt, 1, {});
  }
  EXPECT_EQ(published->top_n(), 1);
  EXPECT_EQ(published->run_metric("eval_ndcg@10"), std::nullopt);
  EXPECT_EQ(published->run_metric("train_loss"), 1.5);
}

db::StoredModel model(int users, int movies, int dims, float seed) {
  db::StoredModel m;
  m.type = "dot";
  for (int i = 0; i < users; ++i) m.user_ids.push_back(3 * i + 1);
  for (int j = 0; j < movies; ++j) m.movie_ids.push_back(7 * j + 2);
  m.users = RowMatrix::Random(users, dims) * seed;
  m.movies = RowMatrix::Random(movies, dims) * seed;
  return m;
}

TEST(DbModels, RoundTripBitForBit) {
  Fixture f;
  auto models = db::sqlite_models(*f.db);
  EXPECT_THROW(models->latest(), NotFoundError);
  const db::StoredModel saved = model(5, 4, 3, 1.0f);
  const std::int64_t id =
      models->save(f.new_run(), saved, "{\"train_loss\":1}", kKeepModels, {}).model_id;
  const db::StoredModel back = models->latest();
  EXPECT_EQ(back.model_id, id);
  EXPECT_EQ(back.type, "dot");
  EXPECT_FALSE(back.created_at.empty());
  EXPECT_EQ(back.user_ids, saved.user_ids);
  EXPECT_EQ(back.movie_ids, saved.movie_ids);
  EXPECT_TRUE(back.users == saved.users);
  EXPECT_TRUE(back.movies == saved.movies);
  EXPECT_EQ(back.user_index(7), 2);
  EXPECT_EQ(back.user_index(8), -1);
  EXPECT_EQ(back.movie_index(23), 3);
}

TEST(DbModels, KeepsTheNewestAndThePublishedOne) {
  Fixture f;
  auto models = db::sqlite_models(*f.db);
  const std::int64_t run = f.new_run();
  const std::int64_t first = models->save(run, model(2, 2, 2, 1.0f), "{}", 2, {}).model_id;
  {
    auto p = db::sqlite_publisher(*f.db, kKeepSets);
    p->commit(run, first, 1, {});
  }
  std::int64_t last = 0;
  for (int i = 0; i < 4; ++i) last = models->save(run, model(2, 2, 2, 2.0f), "{}", 2, {}).model_id;
  EXPECT_EQ(
      test::sqlite(f.dir / "recs.db", "SELECT model_id FROM models ORDER BY model_id;"),
      std::to_string(first) + "\n" + std::to_string(last - 1) + "\n" + std::to_string(last) + "\n");
  EXPECT_EQ(models->latest().model_id, last);
}

TEST(DbModels, ACorruptBlobIsADatabaseError) {
  Fixture f;
  auto models = db::sqlite_models(*f.db);
  models->save(f.new_run(), model(3, 3, 2, 1.0f), "{}", kKeepModels, {});
  f.db->exec("UPDATE models SET user_vectors = zeroblob(5)");
  EXPECT_THROW(models->latest(), DatabaseError);
}

}  // namespace
}  // namespace recs
