// End to end: publishing into PostgreSQL (serve.postgres). The pipeline
// creates the serving schema itself, the web app's tables read there with
// the SQLite tables' columns and the same rows as a SQLite publish of the
// same model, sql/postgres/ queries return what their sql/ counterparts do
// (through psql), the run history records the publish, and the previous
// generation is kept while older ones are dropped.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "pg_server.h"
#include "test_util.h"

namespace recs::test {
namespace {
namespace fs = std::filesystem;

std::string chomp(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Same rows; column `score_column` (a score or mean) equal as a number.
void expect_same_rows(const std::string& sqlite_out, const std::string& pg_out,
                      std::size_t score_column, const std::string& what) {
  const auto a = tsv_rows(sqlite_out);
  const auto b = tsv_rows(pg_out);
  ASSERT_EQ(a.size(), b.size()) << what;
  ASSERT_FALSE(a.empty()) << what;
  for (std::size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].size(), b[i].size()) << what << " row " << i;
    for (std::size_t c = 0; c < a[i].size(); ++c) {
      if (c == score_column && !a[i][c].empty()) {
        const double x = std::stod(a[i][c]);
        EXPECT_NEAR(x, std::stod(b[i][c]), 1e-6 * std::max(1.0, std::fabs(x)))
            << what << " row " << i;
      } else {
        EXPECT_EQ(a[i][c], b[i][c]) << what << " row " << i << " column " << c;
      }
    }
  }
}

class PostgresPublish : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = make_dataset(dir_, 120, 150, 5000, "score:\n  top_n: 20\n");
    db_ = dir_ / "recs.db";
    // The SQLite publish first (the default), then the same model into
    // PostgreSQL.
    CommandResult r = run_pipeline("run -q --config " + quoted(config_));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run_pipeline("publish -q --config " + quoted(config_) + " --model latest " +
                     serve_postgres(pg_.conninfo()));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  std::string sqlite_tsv(const std::string& sql) {
    write_file(dir_ / "q.sql", sql);
    return sqlite_query_file(db_, dir_ / "q.sql", {});
  }
  std::string pg_tsv(const std::string& sql) {
    CommandResult r = psql_command(pg_.conninfo(), sql);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }

  PgServer pg_;
  TempDir dir_;
  fs::path config_;
  fs::path db_;
};

TEST_F(PostgresPublish, WebAppTablesMatchTheSqlitePublishOfTheSameModel) {
  expect_same_rows(sqlite_tsv("SELECT user_id, rank, movie_id, score, because_movie_id FROM "
                              "recommendations ORDER BY user_id, rank"),
                   pg_tsv("SELECT user_id, rank, movie_id, score, because_movie_id FROM "
                          "recs.recommendations ORDER BY user_id, rank"),
                   3, "recommendations");
  expect_same_rows(sqlite_tsv("SELECT movie_id, rank, similar_movie_id, score FROM "
                              "similar_movies ORDER BY movie_id, rank"),
                   pg_tsv("SELECT movie_id, rank, similar_movie_id, score FROM "
                          "recs.similar_movies ORDER BY movie_id, rank"),
                   3, "similar_movies");
  expect_same_rows(
      sqlite_tsv("SELECT user_id, cluster, distance FROM user_clusters ORDER BY user_id"),
      pg_tsv("SELECT user_id, cluster, distance FROM recs.user_clusters ORDER BY user_id"), 2,
      "user_clusters");
  expect_same_rows(
      sqlite_tsv("SELECT movie_id, cluster, distance FROM movie_clusters ORDER BY movie_id"),
      pg_tsv("SELECT movie_id, cluster, distance FROM recs.movie_clusters ORDER BY movie_id"), 2,
      "movie_clusters");
  expect_same_rows(sqlite_tsv("SELECT cluster, rank, movie_id, rating_count, mean_rating FROM "
                              "cluster_popular ORDER BY cluster, rank"),
                   pg_tsv("SELECT cluster, rank, movie_id, rating_count, mean_rating FROM "
                          "recs.cluster_popular ORDER BY cluster, rank"),
                   4, "cluster_popular");
  expect_same_rows(sqlite_tsv("SELECT movie_id, title, genres FROM movies ORDER BY movie_id"),
                   pg_tsv("SELECT movie_id, title, genres FROM recs.movies ORDER BY movie_id"), 99,
                   "movies");
  expect_same_rows(sqlite_tsv("SELECT movie_id, rating_count, popularity_rank FROM movie_stats "
                              "ORDER BY movie_id"),
                   pg_tsv("SELECT movie_id, rating_count, popularity_rank FROM recs.movie_stats "
                          "ORDER BY movie_id"),
                   99, "movie_stats");
  expect_same_rows(
      sqlite_tsv("SELECT user_id, movie_id FROM ratings ORDER BY user_id, movie_id"),
      pg_tsv("SELECT user_id, movie_id FROM recs.rated_movies ORDER BY user_id, movie_id"), 99,
      "rated movies");
  // The web app's lookup is an index search on the live partition.
  const std::string plan = pg_tsv(
      "EXPLAIN SELECT movie_id, score FROM recs.recommendations WHERE user_id = 5 ORDER BY "
      "rank");
  EXPECT_NE(plan.find("Index Scan using rec_lists_g1_pkey"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("Seq Scan on rec_lists"), std::string::npos) << plan;
}

TEST_F(PostgresPublish, RunHistoryRecordsThePublishAndThePublicationNamesIt) {
  const std::string last = chomp(sqlite_readonly(
      db_,
      "SELECT run_id, command, status, json_extract(counts, '$.postgres_generation'), "
      "json_extract(counts, '$.recommendations') FROM runs ORDER BY run_id DESC LIMIT 1"));
  const std::string run_id = last.substr(0, last.find('|'));
  // The same counts as the SQLite publish of the same model.
  const std::string rows = chomp(sqlite_readonly(db_, "SELECT count(*) FROM recommendations"));
  const std::string users =
      chomp(sqlite_readonly(db_, "SELECT count(DISTINCT user_id) FROM recommendations"));
  EXPECT_EQ(last, run_id + "|publish|succeeded|1|" + rows);
  EXPECT_EQ(chomp(pg_tsv("SELECT generation, run_id, model_id, user_count, row_count, top_n, "
                         "previous_generation IS NULL FROM recs.publication")),
            "1\t" + run_id + "\t1\t" + users + "\t" + rows + "\t20\tt");
  // The quality gate compares with the run of the generation live on the
  // server: n/a while that run did not evaluate, its NDCG once it did.
  const std::string gate = "run --config " + quoted(config_) +
                           " --set evaluate.in_run=true --set model.type=als " +
                           serve_postgres(pg_.conninfo());
  CommandResult r = run_pipeline(gate);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("vs last published n/a"), std::string::npos) << r.err;
  r = run_pipeline(gate);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("vs last published 0."), std::string::npos) << r.err;
  // The schema is recorded and the config the run stored names the server.
  EXPECT_EQ(chomp(pg_tsv("SELECT max(version) FROM recs_store.schema_version")), "5");
}

TEST_F(PostgresPublish, QueriesMatchTheirSqliteCounterparts) {
  const fs::path sql = source_dir() / "sql";
  const std::string conn = pg_.conninfo();
  const std::string user = chomp(sqlite_readonly(db_, "SELECT min(user_id) FROM recommendations"));
  // login: personal rows (score, column 4, compared as floats), paging, and
  // the fallback for a user the model does not know.
  for (const std::string& u : {user, std::string("999999")}) {
    for (const std::string& offset : {std::string("0"), std::string("5"), std::string("18")}) {
      expect_same_rows(sqlite_query_file(db_, sql / "login.sql",
                                         {"user_id " + u, "limit 5", "offset " + offset}),
                       psql_query_file(conn, sql / "postgres" / "login.sql",
                                       {"user_id=" + u, "limit=5", "offset=" + offset}),
                       4, "login.sql user " + u + " offset " + offset);
    }
  }
  // Without offset, and past the end of a personal list: no rows.
  expect_same_rows(
      sqlite_query_file(db_, sql / "login.sql", {"user_id " + user, "limit 3"}),
      psql_query_file(conn, sql / "postgres" / "login.sql", {"user_id=" + user, "limit=3"}), 4,
      "login.sql without offset");
  EXPECT_EQ(psql_query_file(conn, sql / "postgres" / "login.sql",
                            {"user_id=" + user, "limit=5", "offset=20"}),
            "");
  for (const std::string& offset : {std::string("0"), std::string("7")}) {
    expect_same_rows(sqlite_query_file(db_, sql / "fallback.sql",
                                       {"user_id " + user, "limit 6", "offset " + offset}),
                     psql_query_file(conn, sql / "postgres" / "fallback.sql",
                                     {"user_id=" + user, "limit=6", "offset=" + offset}),
                     99, "fallback.sql offset " + offset);
    expect_same_rows(sqlite_query_file(db_, sql / "popular_in_cluster.sql",
                                       {"user_id " + user, "limit 6", "offset " + offset}),
                     psql_query_file(conn, sql / "postgres" / "popular_in_cluster.sql",
                                     {"user_id=" + user, "limit=6", "offset=" + offset}),
                     5, "popular_in_cluster.sql offset " + offset);
    const std::string movie =
        chomp(sqlite_readonly(db_, "SELECT min(movie_id) FROM similar_movies"));
    expect_same_rows(sqlite_query_file(db_, sql / "because_you_watched.sql",
                                       {"movie_id " + movie, "limit 6", "offset " + offset}),
                     psql_query_file(conn, sql / "postgres" / "because_you_watched.sql",
                                     {"movie_id=" + movie, "limit=6", "offset=" + offset}),
                     4, "because_you_watched.sql offset " + offset);
  }
  const auto fresh = tsv_rows(psql_query_file(conn, sql / "postgres" / "freshness.sql", {}));
  ASSERT_EQ(fresh.size(), 1u);
  ASSERT_EQ(fresh[0].size(), 5u);
  EXPECT_LT(std::stoll(fresh[0][0]), 600);
  EXPECT_EQ(fresh[0][3], "1");
}

// predict scores with the model of the set that serves: the server's live
// generation with serve.postgres, SQLite's publication without it.
// The business filters reach the fallback on the server as in SQLite: the
// generation's movie_stats holds no movie they exclude, so both backends'
// fallback and login queries leave out the three most popular movies here.
TEST_F(PostgresPublish, TheFallbackLeavesOutWhatTheFiltersExcludeAsInSqlite) {
  const fs::path sql = source_dir() / "sql";
  const std::string conn = pg_.conninfo();
  std::string top = chomp(sqlite_readonly(
      db_,
      "SELECT group_concat(movie_id) FROM (SELECT movie_id FROM movie_stats ORDER BY "
      "popularity_rank LIMIT 3)"));
  const std::string filters = " --set score.exclude_movies=[" + top + "]";
  CommandResult r =
      run_pipeline("publish -q --config " + quoted(config_) + " --model latest" + filters);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_pipeline("publish -q --config " + quoted(config_) + " --model latest" + filters + " " +
                   serve_postgres(pg_.conninfo()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const std::string& offset : {std::string("0"), std::string("4")}) {
    const std::string lite = sqlite_query_file(db_, sql / "fallback.sql",
                                               {"user_id 999999", "limit 6", "offset " + offset});
    expect_same_rows(lite,
                     psql_query_file(conn, sql / "postgres" / "fallback.sql",
                                     {"user_id=999999", "limit=6", "offset=" + offset}),
                     99, "fallback.sql offset " + offset);
    expect_same_rows(sqlite_query_file(db_, sql / "login.sql",
                                       {"user_id 999999", "limit 6", "offset " + offset}),
                     psql_query_file(conn, sql / "postgres" / "login.sql",
                                     {"user_id=999999", "limit=6", "offset=" + offset}),
                     4, "login.sql offset " + offset);
    for (const auto& row : tsv_rows(lite)) {
      EXPECT_EQ(("," + top + ",").find("," + row[1] + ","), std::string::npos) << row[1];
    }
  }
  // The excluded movies are the set's, apart: movie_stats is the SQLite
  // table's, every row.
  EXPECT_EQ(chomp(pg_tsv("SELECT string_agg(movie_id::text, ',' ORDER BY movie_id) FROM "
                         "recs.excluded_movies")),
            chomp(sqlite_readonly(db_,
                                  "SELECT group_concat(movie_id) FROM (SELECT movie_id FROM "
                                  "excluded_movies ORDER BY movie_id)")));
  EXPECT_EQ(chomp(pg_tsv("SELECT count(*) FROM recs.excluded_movies")), "3");
  EXPECT_EQ(chomp(pg_tsv("SELECT count(*), sum(rating_count), sum(popularity_rank) FROM "
                         "recs.movie_stats")),
            chomp(sqlite_readonly(db_,
                                  "SELECT count(*) || '\t' || sum(rating_count) || '\t' || "
                                  "sum(popularity_rank) FROM movie_stats")));
}

TEST_F(PostgresPublish, PredictUsesTheModelOfTheLiveGenerationOnTheServer) {
  const std::string pg = serve_postgres(pg_.conninfo());
  CommandResult r = run_pipeline("train -q --config " + quoted(config_));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_pipeline("publish -q --config " + quoted(config_) + " --model 2 " + pg);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_pipeline("train -q --config " + quoted(config_));  // model 3, published nowhere
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string user = chomp(sqlite_readonly(db_, "SELECT min(user_id) FROM ratings"));
  const std::string movie = chomp(sqlite_readonly(db_, "SELECT min(movie_id) FROM movies"));
  const std::string args =
      "predict --config " + quoted(config_) + " --user " + user + " --movie " + movie;

  r = run_pipeline(args + " " + pg);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("scoring with model 2 ("), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("the published one"), std::string::npos) << r.err;
  const std::string on_server = r.out;
  r = run_pipeline(args + " --model 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, on_server);

  r = run_pipeline(args);  // SQLite serves: its set is model 1's
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("scoring with model 1 ("), std::string::npos) << r.err;
}

TEST_F(PostgresPublish, KeepsThePreviousGenerationAndDropsOlderOnes) {
  for (int i = 0; i < 2; ++i) {
    CommandResult r =
        run_pipeline("score -q --config " + quoted(config_) + " " + serve_postgres(pg_.conninfo()));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  EXPECT_EQ(pg_tsv("SELECT generation, state FROM recs_store.generations ORDER BY generation"),
            "2\tprevious\n3\tlive\n");
  // The churn is measured against the live generation: the same model
  // published again changes no list.
  EXPECT_EQ(sqlite_readonly(db_,
                            "SELECT json_extract(metrics, '$.churn') = 0, json_extract(counts, "
                            "'$.churn_users') > 100 FROM runs ORDER BY run_id DESC LIMIT 1"),
            "1|1\n");
  EXPECT_EQ(chomp(pg_tsv("SELECT generation, previous_generation FROM recs.publication")), "3\t2");
  // A rollback swaps the live and the previous generation, twice back.
  CommandResult r = run_pipeline("rollback -q --config " + quoted(config_) + " " +
                                 serve_postgres(pg_.conninfo()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(chomp(pg_tsv("SELECT generation, previous_generation FROM recs.publication")), "2\t3");
  EXPECT_EQ(chomp(pg_tsv("SELECT count(*) = (SELECT row_count FROM recs.publication) FROM "
                         "recs.recommendations")),
            "t");
  r = run_pipeline("rollback -q --config " + quoted(config_) + " " +
                   serve_postgres(pg_.conninfo()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(chomp(pg_tsv("SELECT generation, previous_generation FROM recs.publication")), "3\t2");
  r = run_pipeline("rollback -q --config " + quoted(config_) + " --run 1 " +
                   serve_postgres(pg_.conninfo()));
  EXPECT_EQ(r.exit_code, 8) << r.err;
  // Generation 1's partitions are gone, detached and dropped.
  EXPECT_EQ(
      chomp(pg_tsv("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = "
                   "c.relnamespace WHERE n.nspname = 'recs_store' AND c.relname LIKE '%_g1'")),
      "0");
  EXPECT_EQ(
      chomp(pg_tsv("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = "
                   "c.relnamespace WHERE n.nspname = 'recs_store' AND c.relname LIKE '%_g2'")),
      "9");
}

// keep.models never prunes a model the server's generations still name,
// though SQLite's own sets do not; when the server cannot be read, no model
// is pruned at all.
TEST_F(PostgresPublish, KeepModelsSparesTheModelsTheServerServes) {
  const std::string pg = serve_postgres(pg_.conninfo());
  const std::string keep1 = " --set keep.models=1 ";
  CommandResult r = run_pipeline("train -q --config " + quoted(config_));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_pipeline("publish -q --config " + quoted(config_) + " --model 2 " + pg);
  ASSERT_EQ(r.exit_code, 0) << r.err;  // the server: model 2 live, model 1 previous
  for (int i = 0; i < 2; ++i) {
    r = run_pipeline("train -q --config " + quoted(config_) + keep1 + pg);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  EXPECT_EQ(sqlite_readonly(db_, "SELECT group_concat(model_id) FROM models"), "1,2,4\n");
  r = run_pipeline("rollback -q --config " + quoted(config_) + " " + pg);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_pipeline("publish -q --config " + quoted(config_) + " --model 2 " + pg);
  EXPECT_EQ(r.exit_code, 0) << r.err;

  r = run_pipeline("train --config " + quoted(config_) + keep1 +
                   serve_postgres("host=127.0.0.1 port=1 dbname=recs connect_timeout=2"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("no model is removed this time"), std::string::npos) << r.err;
  EXPECT_EQ(sqlite_readonly(db_, "SELECT group_concat(model_id) FROM models"), "1,2,4,5\n");
}

}  // namespace
}  // namespace recs::test
