// Sharded scoring into PostgreSQL, end to end through the real binary: N =
// 1, 2 and 4 shards (the 2-shard run through JOB_COMPLETION_INDEX, as a
// Kubernetes Indexed Job sets it) published with `pipeline publish` equal
// the one-process SQLite run of the same stored model; a re-run shard
// replaces its rows; the publish refuses, naming the shard and leaving the
// live set alone, while a shard is missing or was staged from another
// model.
#include <gtest/gtest.h>

#include <string>

#include "pg_server.h"
#include "shard_lists.h"
#include "test_util.h"

namespace recs::test {
namespace {

std::string chomp(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

class ShardPostgres : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = make_dataset(dir_, 300, 250, 9000,
                           "model: {type: als, factors: 16, epochs: 4}\n"
                           "score: {top_n: 20}\n"
                           "clusters: {users: 4, movies: 4}\n");
    // The one-process SQLite run: import, train, score.
    const CommandResult r = run_pipeline("run -q --config " + quoted(config_));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    want_ = sqlite_lists(dir_ / "recs.db");
  }

  CommandResult pipeline(const std::string& args, const std::string& env = "") {
    return run_command(env + " " + quoted(pipeline_binary()) + " " + args + " -q --config " +
                       quoted(config_) + " " + serve_postgres(pg_.conninfo()));
  }
  void shard(const std::string& spec) {
    const CommandResult r = pipeline("score --shard " + spec);
    ASSERT_EQ(r.exit_code, 0) << spec << ": " << r.err;
  }
  std::string pg(const std::string& sql) {
    const CommandResult r = psql_command(pg_.conninfo(), sql);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return chomp(r.out);
  }
  std::string live() { return pg("SELECT live FROM recs_store.serving"); }

  PgServer pg_;
  TempDir dir_;
  std::filesystem::path config_;
  Lists want_;
};

TEST_F(ShardPostgres, OneTwoAndFourShardsEqualTheSqliteRun) {
  // N = 1.
  shard("0/1");
  CommandResult r = pipeline("publish");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_same_lists(want_, postgres_lists(pg_.conninfo()), "1 shard");
  // N = 2, the index from JOB_COMPLETION_INDEX (Kubernetes Indexed Job).
  for (int i = 0; i < 2; ++i) {
    r = pipeline("score --shards 2", "JOB_COMPLETION_INDEX=" + std::to_string(i));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  ASSERT_EQ(pipeline("publish").exit_code, 0);
  expect_same_lists(want_, postgres_lists(pg_.conninfo()), "2 shards");
  // N = 4, shard 2 run twice: its second run replaces its rows.
  for (const char* s : {"3/4", "2/4", "0/4", "2/4", "1/4"}) shard(s);
  r = pipeline("publish");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_same_lists(want_, postgres_lists(pg_.conninfo()), "4 shards");
  EXPECT_EQ(pg("SELECT count(*), sum(cardinality(movie_ids)) FROM recs_store.rec_lists WHERE "
               "generation = (SELECT live FROM recs_store.serving)"),
            chomp(sqlite_readonly(dir_ / "recs.db",
                                  "SELECT count(DISTINCT user_id) || char(9) || count(*) FROM "
                                  "recommendations")));
  // The movie side and the merged clusters: similar movies as the one
  // process computes them, every published user in a cluster, and the
  // clusters' popular lists add up to the members' ratings.
  EXPECT_EQ(pg("SELECT count(*) FROM recs.similar_movies"),
            chomp(sqlite_readonly(dir_ / "recs.db", "SELECT count(*) FROM similar_movies")));
  EXPECT_EQ(pg("SELECT count(*) FROM recs.recommendations r WHERE r.rank = 1 AND NOT EXISTS "
               "(SELECT 1 FROM recs.user_clusters c WHERE c.user_id = r.user_id)"),
            "0");
  EXPECT_EQ(pg("SELECT count(*) FROM recs.movie_clusters"),
            chomp(sqlite_readonly(dir_ / "recs.db", "SELECT count(*) FROM movie_clusters")));
  EXPECT_EQ(pg("SELECT count(DISTINCT cluster) FROM recs.cluster_popular"), "4");
  EXPECT_EQ(pg("SELECT shards, count(*) FROM recs_store.shard_parts JOIN "
               "recs_store.serving ON generation = live GROUP BY shards"),
            "4\t4");
  // The run history records the publish.
  EXPECT_EQ(chomp(sqlite_readonly(
                dir_ / "recs.db",
                "SELECT command, status, json_extract(counts, '$.shards') FROM runs ORDER BY "
                "run_id DESC LIMIT 1")),
            "publish|succeeded|4");
}

TEST_F(ShardPostgres, PublishRefusesWhileAShardIsMissingOrFromAnotherModel) {
  // A complete 2-shard generation goes live first.
  shard("0/2");
  shard("1/2");
  ASSERT_EQ(pipeline("publish").exit_code, 0);
  const std::string first = live();
  // Shard 1 of the next 2-shard run is missing.
  shard("0/2");
  CommandResult r = pipeline("publish");
  EXPECT_EQ(r.exit_code, 8) << r.err;
  EXPECT_NE(last_log_line(r.err).message.find("shard 1/2 is not staged"), std::string::npos)
      << r.err;
  EXPECT_EQ(live(), first);
  expect_same_lists(want_, postgres_lists(pg_.conninfo()), "after the refusal");
  EXPECT_EQ(chomp(sqlite_readonly(dir_ / "recs.db",
                                  "SELECT command, status FROM runs ORDER BY run_id DESC LIMIT 1")),
            "publish|failed");
  // Shard 1 of the old model comes too late: a new model was trained. Its
  // shards are not staged; the old model's parts are no use.
  shard("1/2");
  ASSERT_EQ(pipeline("train --set model.seed=7").exit_code, 0);
  r = pipeline("publish");
  EXPECT_EQ(r.exit_code, 8) << r.err;
  EXPECT_NE(last_log_line(r.err).message.find("no shard is staged from model 2"), std::string::npos)
      << r.err;
  EXPECT_NE(last_log_line(r.err).message.find("staged from model 1 instead"), std::string::npos)
      << r.err;
  // Shard 0 from the new model, shard 1 only from the old one.
  ASSERT_EQ(pipeline("score --shard 0/2").exit_code, 0);
  r = pipeline("publish");
  EXPECT_EQ(r.exit_code, 8) << r.err;
  EXPECT_NE(
      last_log_line(r.err).message.find("shard 1/2 is not staged (staged from model 1 instead)"),
      std::string::npos)
      << r.err;
  EXPECT_EQ(live(), first);
  // Once it is staged from the new model, the new model goes live.
  ASSERT_EQ(pipeline("score --shard 1/2").exit_code, 0);
  r = pipeline("publish");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(live(), first);
  EXPECT_EQ(pg("SELECT model_id FROM recs.publication"), "2");
  // The SQLite publish of a kept model still works as before.
  r = run_pipeline("publish -q --config " + quoted(config_) + " --model 1");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(chomp(sqlite_readonly(dir_ / "recs.db", "SELECT model_id FROM publication")), "1");
}

}  // namespace
}  // namespace recs::test
