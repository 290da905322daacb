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
  // The config's score section.
  virtual std::string score_section() const { return "score: {top_n: 20}\n"; }

  void SetUp() override {
    config_ = make_dataset(dir_, 300, 250, 9000,
                           "model: {type: als, factors: 16, epochs: 4}\n" + score_section() +
                               "clusters: {users: 4, movies: 4}\n");
    // The one-process SQLite run: import, train, score.
    const CommandResult r = run_pipeline("run -q --config " + quoted(config_));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    want_ = sqlite_lists(dir_ / "recs.db");
  }

  std::string sqlite(const std::string& sql) {
    return chomp(sqlite_readonly(dir_ / "recs.db", sql));
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
  // The publish measures the lists as the one process does: the same
  // coverage; no churn on the server's first set, then 0 for the same lists.
  auto last_publish = [&](const std::string& fields) {
    return sqlite("SELECT " + fields +
                  " FROM runs WHERE command = 'publish' ORDER BY run_id DESC LIMIT 1");
  };
  const std::string coverage = sqlite(
      "SELECT json_extract(metrics, '$.coverage') || '|' || json_extract(counts, "
      "'$.movies_covered') FROM runs WHERE command = 'run' ORDER BY run_id DESC LIMIT 1");
  ASSERT_NE(coverage, "|");
  EXPECT_EQ(last_publish("json_extract(metrics, '$.coverage') || '|' || json_extract(counts, "
                         "'$.movies_covered')"),
            coverage);
  EXPECT_EQ(last_publish("json_type(metrics, '$.churn') IS NULL"), "1");
  // N = 2, the index from JOB_COMPLETION_INDEX (Kubernetes Indexed Job).
  for (int i = 0; i < 2; ++i) {
    r = pipeline("score --shards 2", "JOB_COMPLETION_INDEX=" + std::to_string(i));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  ASSERT_EQ(pipeline("publish").exit_code, 0);
  expect_same_lists(want_, postgres_lists(pg_.conninfo()), "2 shards");
  EXPECT_EQ(last_publish("json_extract(metrics, '$.churn') || '|' || json_extract(counts, "
                         "'$.churn_users')"),
            "0|" + sqlite("SELECT count(DISTINCT user_id) FROM recommendations"));
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
  // Its summary says what was published, as a one-process publish's does,
  // and has no part for what it did not do.
  EXPECT_EQ(chomp(sqlite_readonly(
                dir_ / "recs.db",
                "SELECT json_extract(summary, '$.publish.rows') = json_extract(counts, "
                "'$.recommendations'), json_extract(summary, '$.publish.model_id'), "
                "json_type(summary, '$.train') IS NULL, json_type(summary, '$.import') IS NULL "
                "FROM runs ORDER BY run_id DESC LIMIT 1")),
            "1|" + sqlite("SELECT max(model_id) FROM models") + "|1|1");
  // The report reads the live scores where they are served, the server,
  // and stacks the publish's time with the other stages'.
  CommandResult report = pipeline("report --out " + quoted(dir_ / "report.html"));
  ASSERT_EQ(report.exit_code, 0) << report.err;
  const std::string html = read_file(dir_ / "report.html");
  EXPECT_NE(html.find("Score distribution of the live recommendations"), std::string::npos);
  EXPECT_NE(html.find("</i>publish</span>"), std::string::npos);
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

// The publication records the top_n the shards scored with: shards that
// disagree are refused (their users' lists would differ in length), shards
// that agree with each other but not with the publish config win.
TEST_F(ShardPostgres, PublishRecordsTheShardsTopNAndRefusesShardsThatDisagree) {
  shard("0/2");
  ASSERT_EQ(pipeline("score --shard 1/2 --set score.top_n=10").exit_code, 0);
  CommandResult r = pipeline("publish");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(last_log_line(r.err).message.find(
                "its shards were scored with different score.top_n (shard 1 with 10; shard 0 "
                "with 20)"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(live(), "");
  ASSERT_EQ(pipeline("score --shard 0/2 --set score.top_n=10").exit_code, 0);
  r = pipeline("publish");  // its config says 20
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("its shards were scored with score.top_n 10, not this config's 20"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(pg("SELECT top_n FROM recs.publication"), "10");
  EXPECT_EQ(pg("SELECT max(rank) FROM recs.recommendations"), "10");
}

// A generation staged by a pipeline from before PostgreSQL migration 4 has
// no partition for the filters' excluded movies: publishing it makes one,
// and the fallback leaves them out.
TEST_F(ShardPostgres, AGenerationStagedBeforeMigrationFourIsPublishedWithItsFilters) {
  const std::string top = sqlite(
      "SELECT group_concat(movie_id) FROM (SELECT movie_id FROM movie_stats ORDER BY "
      "popularity_rank LIMIT 2)");
  const std::string filters = " --set score.exclude_movies=[" + top + "]";
  ASSERT_EQ(pipeline("score --shard 0/1" + filters).exit_code, 0);
  const std::string g = pg("SELECT generation FROM recs_store.generations WHERE state = 'staging'");
  ASSERT_FALSE(g.empty());
  pg("ALTER TABLE recs_store.excluded_movies DETACH PARTITION recs_store.excluded_movies_g" + g +
     "; DROP TABLE recs_store.excluded_movies_g" + g);
  const CommandResult r = pipeline("publish" + filters);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(live(), g);
  EXPECT_EQ(
      pg("SELECT string_agg(movie_id::text, ',' ORDER BY movie_id) FROM recs.excluded_movies"),
      pg("SELECT string_agg(x::text, ',' ORDER BY x) FROM unnest('{" + top + "}'::bigint[]) AS x"));
}

// Every shard process leaves a row in recs_store.shard_runs (the SQLite
// file is read-only to them): its shard, status, timings and counts; input
// it refuses ends 'refused' with the error line's message, a failure
// 'failed'.
TEST_F(ShardPostgres, EveryShardRunLeavesATrace) {
  shard("0/2");
  shard("1/2");
  EXPECT_EQ(pg("SELECT shard, shards, status, message IS NULL, model_id, generation IS NOT NULL, "
               "(counts->>'users_scored')::int > 0, (timings->>'score')::float > 0, "
               "ended_at >= started_at FROM recs_store.shard_runs ORDER BY run_id"),
            "0\t2\tsucceeded\tt\t1\tt\tt\tt\tt\n1\t2\tsucceeded\tt\t1\tt\tt\tt\tt");
  EXPECT_EQ(pg("SELECT sum((counts->>'users_published')::int) FROM recs_store.shard_runs"),
            sqlite("SELECT count(DISTINCT user_id) FROM recommendations"));
  // Refused: business filters that leave no movie (exit 3).
  CommandResult r = pipeline("score --shard 1/2 --set score.allow_movies=[99999999]");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(pg("SELECT shard, shards, status, message FROM recs_store.shard_runs ORDER BY run_id "
               "DESC LIMIT 1"),
            "1\t2\trefused\t" + last_log_line(r.err).message);
  // Failed: the database holds no model (exit 5 from the read).
  const std::filesystem::path empty = dir_ / "empty.db";
  r = pipeline("score --shard 0/2 --set database=" + quoted(empty));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(pg("SELECT shard, status, message <> '' FROM recs_store.shard_runs ORDER BY run_id "
               "DESC LIMIT 1"),
            "0\tfailed\tt");
  EXPECT_EQ(pg("SELECT count(*) FROM recs_store.shard_runs"), "4");
}

// The sharded night keeps the quality gate: with evaluate.in_run the
// publish evaluates the configured model on a hold-out split (fitted from
// its own seed) and records the figures, as pipeline run does; a model
// that fails the gate is refused, exit 6, the live set untouched.
TEST_F(ShardPostgres, PublishKeepsTheQualityGate) {
  shard("0/2");
  shard("1/2");
  CommandResult r = pipeline("publish --set evaluate.in_run=true");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string first = live();
  EXPECT_EQ(sqlite("SELECT command, status, CAST(json_extract(metrics, '$.gate_passed') AS int), "
                   "json_extract(metrics, '$.\"eval_ndcg@10\"') > 0 FROM runs ORDER BY run_id "
                   "DESC LIMIT 1"),
            "publish|succeeded|1|1");
  // A configuration that ranks worse than the live set's run by more than
  // gate.max_drop (0 here): refused.
  shard("0/2");
  shard("1/2");
  r = pipeline(
      "publish --set evaluate.in_run=true --set gate.max_drop=0 --set model.als.factors=1 "
      "--set model.als.epochs=1");
  EXPECT_EQ(r.exit_code, 6) << r.err;
  EXPECT_NE(last_log_line(r.err).message.find("NDCG"), std::string::npos) << r.err;
  EXPECT_EQ(live(), first);
  expect_same_lists(want_, postgres_lists(pg_.conninfo()), "after the gate's refusal");
  EXPECT_EQ(sqlite("SELECT command, status, message <> '' FROM runs ORDER BY run_id DESC LIMIT 1"),
            "publish|failed|1");
  // The same shards, the gate passing: published.
  r = pipeline("publish --set evaluate.in_run=true");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(live(), first);
}

// score.method: ann calibrated to score.ann_recall: the one-process run
// records the nprobe and the recall it measured (at least the target:
// here the sample is every user); the shards of a generation share one
// plan (computed by the first, stored with the generation), so N = 1, 2
// and 4 shards equal the one-process run.
class ShardPostgresAnn : public ShardPostgres {
 protected:
  std::string score_section() const override {
    return "score: {top_n: 20, method: ann, ann_clusters: 12}\n";
  }
};

TEST_F(ShardPostgresAnn, CalibratedOncePerGenerationAndShardsEqualOneProcess) {
  const std::string one = sqlite(
      "SELECT json_extract(counts, '$.ann_nprobe') || ' ' || json_extract(counts, "
      "'$.ann_clusters') || ' ' || json_extract(counts, '$.ann_sample_users') FROM runs WHERE "
      "command = 'run'");
  const double recall = std::stod(
      sqlite("SELECT json_extract(metrics, '$.ann_recall') FROM runs WHERE command = 'run'"));
  EXPECT_GE(recall, 0.95);
  EXPECT_LT(recall, 1.0);  // an nprobe below every cluster was enough
  const int nprobe = std::stoi(one);
  EXPECT_GE(nprobe, 1);
  EXPECT_LT(nprobe, 12);
  EXPECT_NE(one.find(" 12 300"), std::string::npos) << one;

  for (const int n : {1, 2, 4}) {
    for (int i = n - 1; i >= 0; --i) {
      const CommandResult r =
          pipeline("score --shard " + std::to_string(i) + "/" + std::to_string(n), "");
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    const CommandResult r = pipeline("publish");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    expect_same_lists(want_, postgres_lists(pg_.conninfo()), std::to_string(n) + " ann shards");
    // One plan for the live generation, the one-process run's nprobe.
    EXPECT_EQ(pg("SELECT count(*), min(nprobe), min(clusters), min(cardinality(cluster_of)) "
                 "FROM recs_store.ann_plans JOIN recs_store.serving ON generation = live"),
              "1\t" + std::to_string(nprobe) + "\t12\t250");
  }
  // Computed by one shard of each generation, taken from it by the others.
  EXPECT_EQ(pg("SELECT count(*) FILTER (WHERE timings ? 'ann_plan'), count(*), "
               "count(DISTINCT counts->>'ann_nprobe') FROM recs_store.shard_runs"),
            "3\t7\t1");
  EXPECT_EQ(pg("SELECT count(DISTINCT generation) FROM recs_store.shard_runs"), "3");
}

}  // namespace
}  // namespace recs::test
