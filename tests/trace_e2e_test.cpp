// Every run leaves a trace: log lines and the final error line carry a
// timestamp and the run id, a run ends with its summary paragraph (also in
// runs.summary), the churn and coverage it reports match the tables, and
// the commands that only read write nothing.
#include <gtest/gtest.h>

#include <sstream>

#include "test_util.h"

namespace recs::test {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::string one(const fs::path& db, const std::string& sql) {
  std::string v = sqlite(db, sql);
  if (!v.empty() && v.back() == '\n') v.pop_back();
  return v;
}

// The churn of the live set against the set in `old_db`, computed in SQL as
// the README defines it.
std::string sql_churn(const fs::path& db, const fs::path& old_db) {
  return one(db,
             "ATTACH " + quoted(old_db) +
                 " AS o; "
                 "WITH n AS (SELECT user_id, count(*) AS c FROM main.recommendations "
                 "GROUP BY user_id), "
                 "p AS (SELECT user_id, count(*) AS c FROM o.recommendations GROUP BY user_id), "
                 "k AS (SELECT a.user_id, count(*) AS c FROM main.recommendations a "
                 "JOIN o.recommendations b ON a.user_id = b.user_id AND a.movie_id = b.movie_id "
                 "GROUP BY a.user_id) "
                 "SELECT printf('%.9f', 1 - avg(coalesce(k.c, 0) * 1.0 / max(n.c, p.c))) "
                 "FROM n JOIN p USING (user_id) LEFT JOIN k USING (user_id);");
}

class Trace : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = make_dataset(dir_, 400, 300, 12000,
                           "model:\n  type: als\n  factors: 8\n  epochs: 3\n"
                           "evaluate:\n  in_run: true\nscore:\n  top_n: 10\n");
  }
  fs::path db() const { return dir_ / "recs.db"; }
  TempDir dir_;
  fs::path config_;
};

TEST_F(Trace, EveryLineOfARunNamesItsRunAndItEndsWithTheSummary) {
  auto r = run_pipeline("run --config " + quoted(config_));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = lines_of(r.err);
  ASSERT_FALSE(lines.empty());
  for (const auto& line : lines) {
    const LogLine l = parse_log_line(line);
    EXPECT_TRUE(l.ok) << line;
    EXPECT_EQ(l.run_id, 1) << line;
  }
  const LogLine last = parse_log_line(lines.back());
  EXPECT_EQ(last.level, "info");
  const std::string& s = last.message;
  EXPECT_TRUE(s.starts_with("summary: run succeeded in ")) << s;
  const std::string ratings = one(db(), "SELECT count(*) FROM ratings;");
  const std::string movies = one(db(), "SELECT count(*) FROM movies;");
  const std::string rows = one(db(), "SELECT count(*) FROM recommendations;");
  const std::string users = one(db(), "SELECT count(DISTINCT user_id) FROM recommendations;");
  for (const std::string& part : std::vector<std::string>{
           "imported " + ratings + " ratings from ",
           "(" + ratings + " new, 0 updated, 0 removed), ", movies + " movies in the catalogue",
           "quality gate passed: NDCG@10 ", " vs popularity ", " vs last published n/a",
           "trained model 1 (als, 3 epochs, loss ",
           "published " + rows + " recommendations for " + users + " users", " from model 1 (als)",
           "churn n/a (no previous set to compare)", ", coverage "}) {
    EXPECT_NE(s.find(part), std::string::npos) << part << "\nin: " << s;
  }

  // The same figures in the run history.
  EXPECT_EQ(
      one(db(),
          "SELECT json_extract(summary, '$.import.ratings'), "
          "json_extract(summary, '$.import.inserted'), "
          "json_extract(summary, '$.import.movies'), "
          "json_extract(summary, '$.train.model_id'), json_extract(summary, '$.train.type'), "
          "json_extract(summary, '$.train.epochs'), "
          "json_extract(summary, '$.gate.passed'), "
          "json_extract(summary, '$.gate.ndcg') = json_extract(metrics, '$.\"eval_ndcg@10\"'), "
          "json_extract(summary, '$.gate.published_ndcg') IS NULL, "
          "json_extract(summary, '$.publish.rows'), json_extract(summary, '$.publish.users'), "
          "json_extract(summary, '$.publish.churn') IS NULL FROM runs;"),
      ratings + "|" + ratings + "|" + movies + "|1|als|3|1|1|1|" + rows + "|" + users + "|1");
  // Coverage: distinct movies recommended over the candidate movies.
  EXPECT_EQ(one(db(),
                "SELECT json_extract(summary, '$.publish.movies_covered') = "
                "(SELECT count(DISTINCT movie_id) FROM recommendations), "
                "json_extract(summary, '$.publish.candidate_movies') = "
                "(SELECT count(*) FROM movie_stats), "
                "abs(json_extract(metrics, '$.coverage') - "
                "json_extract(summary, '$.publish.movies_covered') * 1.0 / "
                "json_extract(summary, '$.publish.candidate_movies')) < 1e-5 FROM runs;"),
            "1|1|1");
}

TEST_F(Trace, ChurnIsZeroForTheSameModelAndMatchesTheTablesForAnother) {
  ASSERT_EQ(run_pipeline("run --config " + quoted(config_)).exit_code, 0);
  // The same model scored again: the same lists.
  auto again = run_pipeline("score --config " + quoted(config_));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  const LogLine last = last_log_line(again.err);
  EXPECT_TRUE(last.message.starts_with("summary: score succeeded in ")) << last.message;
  EXPECT_NE(last.message.find(", churn 0.0000 over the "), std::string::npos) << last.message;
  EXPECT_EQ(
      one(db(),
          "SELECT json_extract(metrics, '$.churn'), json_extract(summary, '$.publish.churn'), "
          "json_extract(summary, '$.publish.churn_users') = "
          "(SELECT count(DISTINCT user_id) FROM recommendations) "
          "FROM runs WHERE run_id = 2;"),
      "0|0|1");

  // Another model (another seed) and a longer list: the churn the run
  // reports is the one the tables give.
  ASSERT_EQ(sqlite(db(), ".backup " + quoted(dir_ / "old.db")), "");
  ASSERT_EQ(run_pipeline("train --config " + quoted(config_) + " --set model.seed=7").exit_code, 0);
  auto other = run_pipeline("score --config " + quoted(config_) + " --set score.top_n=12");
  ASSERT_EQ(other.exit_code, 0) << other.err;
  // (runs.metrics keeps 6 significant digits.)
  const double reported =
      std::stod(one(db(), "SELECT json_extract(metrics, '$.churn') FROM runs WHERE run_id = 4;"));
  EXPECT_NEAR(reported, std::stod(sql_churn(db(), dir_ / "old.db")), 1e-5);
  EXPECT_GT(reported, 0.0);
  EXPECT_LT(reported, 1.0);
}

TEST_F(Trace, ARefusedRunOnAFreshDatabaseIsRecordedThere) {
  write_file(dir_ / "missing.yaml", "import:\n  ratings: nowhere.csv\n");
  auto r = run_pipeline("run --config " + quoted(dir_ / "missing.yaml"));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  const LogLine last = last_log_line(r.err);
  EXPECT_EQ(last.level, "error") << r.err;
  EXPECT_EQ(last.run_id, 1) << r.err;
  EXPECT_EQ(last.stage, "import") << r.err;
  EXPECT_NE(last.message.find("missing.yaml:2: import.ratings: file not found"), std::string::npos);
  // The summary comes just before the error line.
  const auto lines = lines_of(r.err);
  ASSERT_GE(lines.size(), 2u);
  EXPECT_TRUE(
      parse_log_line(lines[lines.size() - 2]).message.starts_with("summary: run refused in "))
      << r.err;
  EXPECT_NE(lines[lines.size() - 2].find(": no import, training or publish"), std::string::npos)
      << r.err;
  EXPECT_EQ(sqlite(db(),
                   "SELECT command, status, message, summary FROM runs; "
                   "SELECT (SELECT count(*) FROM ratings) + (SELECT count(*) FROM movies) + "
                   "(SELECT count(*) FROM models) + (SELECT count(*) FROM recommendations);"),
            "run|refused|" + last.message + "|{}\n0\n");
}

TEST_F(Trace, ARunThatFailsAfterImportingSaysWhatItDid) {
  ASSERT_EQ(run_pipeline("import --config " + quoted(config_)).exit_code, 0);
  // Business filters that leave nothing: refused at the score stage, after
  // a model was trained; nothing published.
  auto r = run_pipeline("run --config " + quoted(config_) +
                        " --set score.allow_movies=[999999] --set evaluate.in_run=false");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  const auto lines = lines_of(r.err);
  ASSERT_GE(lines.size(), 2u);
  const std::string summary = parse_log_line(lines[lines.size() - 2]).message;
  EXPECT_TRUE(summary.starts_with("summary: run refused in ")) << summary;
  EXPECT_NE(summary.find("(0 new, 0 updated, 0 removed)"), std::string::npos) << summary;
  EXPECT_NE(summary.find("trained model "), std::string::npos) << summary;
  EXPECT_TRUE(summary.ends_with("; no publish")) << summary;
  EXPECT_EQ(one(db(),
                "SELECT status, json_extract(summary, '$.publish') IS NULL, "
                "json_extract(summary, '$.train.type') FROM runs WHERE run_id = 2;"),
            "refused|1|als");
}

TEST_F(Trace, CommandsThatOnlyReadWriteNothing) {
  ASSERT_EQ(run_pipeline("run --config " + quoted(config_)).exit_code, 0);
  const std::string user = one(db(), "SELECT min(user_id) FROM recommendations;");
  const std::string movie = one(db(), "SELECT min(movie_id) FROM movies;");
  auto files = [&] { return read_file(db()) + "|wal|" + read_file(dir_ / "recs.db-wal"); };
  const std::string before = files();
  write_file(dir_ / "pairs.csv", "userId,movieId\n" + user + "," + movie + "\n");
  for (const std::string& args :
       {"predict --config " + quoted(config_) + " --user " + user + " --movie " + movie,
        "predict --config " + quoted(config_) + " --pairs " + quoted(dir_ / "pairs.csv"),
        "config --config " + quoted(config_), "evaluate --config " + quoted(config_)}) {
    SCOPED_TRACE(args);
    auto r = run_pipeline(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_FALSE(r.out.empty());
    EXPECT_TRUE(files() == before) << "the database changed";
    for (const auto& line : lines_of(r.err)) EXPECT_EQ(parse_log_line(line).run_id, 0) << line;
  }
  EXPECT_EQ(one(db(), "SELECT count(*) FROM runs;"), "1");

  // evaluate takes no run lock: it reads while a run holds the lock, and
  // does not keep a nightly run from starting (flock(1) holds the lock here
  // as a running pipeline would).
  const std::string hold = "flock -n " + quoted(dir_ / "recs.db.lock") + " ";
  auto evaluated =
      run_command(hold + quoted(pipeline_binary()) + " evaluate --config " + quoted(config_));
  EXPECT_EQ(evaluated.exit_code, 0) << evaluated.err;
  EXPECT_NE(evaluated.out.find("\"model_metrics\""), std::string::npos) << evaluated.out;
  auto locked = run_command(hold + quoted(pipeline_binary()) + " run --config " + quoted(config_));
  EXPECT_EQ(locked.exit_code, 7) << locked.err;
  EXPECT_EQ(one(db(), "SELECT count(*) FROM runs;"), "1");
}

}  // namespace
}  // namespace recs::test
