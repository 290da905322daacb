// Going back, end to end through the real binary and read with the sqlite3
// client: `pipeline rollback` restores exactly the rows that were live
// before the last publish (and a second one swaps back), atomically under
// kills and readers; `pipeline publish --model N` publishes a kept model's
// scores; `predict` scores with the published model unless told otherwise;
// keep.models and keep.sets prune with a log line.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "test_util.h"

namespace recs::test {
namespace {

// Every table a published set consists of, in full, and the publication.
std::string live_dump(const std::filesystem::path& db) {
  return sqlite(db,
                "SELECT * FROM recommendations ORDER BY user_id, rank;"
                "SELECT * FROM similar_movies ORDER BY movie_id, rank;"
                "SELECT * FROM user_clusters ORDER BY user_id;"
                "SELECT * FROM movie_clusters ORDER BY movie_id;"
                "SELECT * FROM cluster_popular ORDER BY cluster, rank;"
                "SELECT * FROM publication;");
}

// The same, without the publication row (which names the run).
std::string rows_dump(const std::filesystem::path& db) {
  const std::string all = live_dump(db);
  const std::string pub = sqlite(db, "SELECT * FROM publication;");
  return all.substr(0, all.size() - pub.size());
}

// What the one kept set holds, by its tables' names in kept_sets.
std::string kept_dump(const std::filesystem::path& db) {
  const std::string id = sqlite(db, "SELECT set_id FROM kept_sets;");
  if (id.empty()) return "";
  const std::string n = id.substr(0, id.size() - 1);
  return sqlite(db, "SELECT * FROM recommendations_kept" + n +
                        " ORDER BY user_id, rank;"
                        "SELECT * FROM similar_movies_kept" +
                        n +
                        " ORDER BY movie_id, rank;"
                        "SELECT * FROM user_clusters_kept" +
                        n +
                        " ORDER BY user_id;"
                        "SELECT * FROM movie_clusters_kept" +
                        n +
                        " ORDER BY movie_id;"
                        "SELECT * FROM cluster_popular_kept" +
                        n +
                        " ORDER BY cluster, rank;"
                        "SELECT run_id, model_id, published_at, user_count, row_count, top_n, "
                        "similar_k, user_clusters, movie_clusters FROM kept_sets;");
}

// Last night's set A (model 1, top 10) is live; tonight's B (model 2, top
// 15, another seed) replaced it.
class Rollback : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = make_dataset(dir_, 300, 400, 9000, "model:\n  factors: 6\nscore:\n  top_n: 10\n");
    auto a = run_pipeline("run --config " + quoted(config_));
    ASSERT_EQ(a.exit_code, 0) << a.err;
    a_ = live_dump(db());
    a_rows_ = rows_dump(db());
    auto train = run_pipeline("train --config " + quoted(config_) + " --set model.seed=7");
    ASSERT_EQ(train.exit_code, 0) << train.err;
    auto b = run_pipeline("score --config " + quoted(config_) + " --set score.top_n=15");
    ASSERT_EQ(b.exit_code, 0) << b.err;
    b_ = live_dump(db());
    b_rows_ = rows_dump(db());
    ASSERT_NE(a_, b_);
    ASSERT_EQ(sqlite(db(), "SELECT model_id, top_n FROM publication;"), "2|15\n");
  }
  std::filesystem::path db() const { return dir_ / "recs.db"; }
  CommandResult pipeline(const std::string& command, const std::string& extra = "") {
    return run_pipeline(command + " --config " + quoted(config_) + extra);
  }
  TempDir dir_;
  std::filesystem::path config_;
  std::string a_, b_;            // every table of the set and the publication row
  std::string a_rows_, b_rows_;  // the same without the publication row
};

TEST_F(Rollback, RestoresExactlyThePreviousRowsAndASecondRollbackSwapsBack) {
  const std::string kept_a = kept_dump(db());
  auto r = pipeline("rollback");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(live_dump(db()), a_);
  EXPECT_NE(r.err.find("the set of run 1 (model 1, 3000 rows, published "), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("is live again"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("the set of run 3 (model 2, 4500 rows"), std::string::npos) << r.err;
  EXPECT_EQ(sqlite(db(),
                   "SELECT command, status, json_extract(counts, '$.restored_run_id'), "
                   "json_extract(counts, '$.retired_run_id'), "
                   "json_extract(counts, '$.published_model_id'), "
                   "json_extract(counts, '$.recommendations'), "
                   "json_extract(timings, '$.rollback') >= 0 FROM runs ORDER BY run_id DESC "
                   "LIMIT 1;"),
            "rollback|succeeded|1|3|1|3000|1\n");
  // The web app's query is still an index search.
  const std::string plan = sqlite(db(),
                                  ".param set :user_id 1\n.param set :limit 5\n"
                                  "EXPLAIN QUERY PLAN " +
                                      read_file(source_dir() / "sql/login.sql"));
  EXPECT_NE(plan.find("SEARCH r USING PRIMARY KEY (user_id=?"), std::string::npos) << plan;

  auto again = pipeline("rollback");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(live_dump(db()), b_);
  EXPECT_EQ(kept_dump(db()), kept_a);
  EXPECT_EQ(sqlite(db(), "PRAGMA integrity_check;"), "ok\n");
}

TEST_F(Rollback, NothingToRollBackToIsExitEightAndChangesNothing) {
  auto one = run_pipeline("score --config " + quoted(config_) + " --set keep.sets=1");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_NE(one.err.find("removed the set of run 1 (model 1, 3000 rows, published "),
            std::string::npos)
      << one.err;
  EXPECT_NE(one.err.find("keep.sets is 1"), std::string::npos) << one.err;
  EXPECT_EQ(sqlite(db(), "SELECT count(*) FROM kept_sets;"), "0\n");
  const std::string before = live_dump(db());
  auto r = pipeline("rollback", " --set keep.sets=1");
  EXPECT_EQ(r.exit_code, 8);
  EXPECT_EQ(last_log_line(r.err).message,
            "nothing to roll back to: no published set is kept besides the live "
            "one (keep.sets is 1: a publish keeps no previous set); the live set stays");
  EXPECT_EQ(live_dump(db()), before);
  EXPECT_EQ(sqlite(db(),
                   "SELECT command, status, message LIKE 'nothing to roll back to%' FROM runs "
                   "ORDER BY run_id DESC LIMIT 1;"),
            "rollback|failed|1\n");

  auto unknown_run = pipeline("rollback", " --run 99");
  EXPECT_EQ(unknown_run.exit_code, 8);
  EXPECT_NE(unknown_run.err.find("no kept set was published by run 99 (kept: none)"),
            std::string::npos)
      << unknown_run.err;
  EXPECT_EQ(live_dump(db()), before);
}

TEST_F(Rollback, PublishModelScoresAndPublishesThatModel) {
  // Model 1 with last night's config gives last night's rows exactly.
  auto r = pipeline("publish", " --model 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("with model 1 ("), std::string::npos) << r.err;
  EXPECT_EQ(rows_dump(db()), a_rows_);
  EXPECT_EQ(sqlite(db(),
                   "SELECT p.model_id, p.top_n, r.command, r.status, "
                   "json_extract(r.counts, '$.published_model_id') FROM publication p "
                   "JOIN runs r USING (run_id);"),
            "1|10|publish|succeeded|1\n");
  // The set it replaced (model 2's) is the one a rollback brings back.
  ASSERT_EQ(pipeline("rollback").exit_code, 0);
  EXPECT_EQ(live_dump(db()), b_);

  const std::string before = live_dump(db());
  auto missing = pipeline("publish", " --model 42");
  EXPECT_EQ(missing.exit_code, 8);
  EXPECT_NE(missing.err.find("model 42 is not kept (kept: 2, 1)"), std::string::npos)
      << missing.err;
  EXPECT_EQ(live_dump(db()), before);
  auto latest = pipeline("publish", " --model latest --set score.top_n=15");
  ASSERT_EQ(latest.exit_code, 0) << latest.err;
  EXPECT_EQ(rows_dump(db()), b_rows_);
}

TEST_F(Rollback, PredictUsesThePublishedModelUnlessToldOtherwise) {
  // The published pair's score is what predict prints by default, after a
  // bare train of a third model too.
  ASSERT_EQ(pipeline("train", " --set model.seed=9").exit_code, 0);
  const std::string top =
      sqlite(db(), "SELECT movie_id, score FROM recommendations WHERE user_id = 1 AND rank = 1;");
  const std::string movie = top.substr(0, top.find('|'));
  const double published = std::stod(top.substr(top.find('|') + 1));
  const std::string pair = " --user 1 --movie " + movie;

  auto by_default = pipeline("predict", pair);
  ASSERT_EQ(by_default.exit_code, 0) << by_default.err;
  EXPECT_NEAR(std::stod(by_default.out), published, 1e-5);
  EXPECT_NE(by_default.err.find("scoring with model 2 ("), std::string::npos) << by_default.err;
  EXPECT_NE(by_default.err.find("the published one"), std::string::npos) << by_default.err;

  auto latest = pipeline("predict", pair + " --model latest");
  ASSERT_EQ(latest.exit_code, 0) << latest.err;
  EXPECT_NE(latest.err.find("scoring with model 3 ("), std::string::npos) << latest.err;
  EXPECT_NE(latest.out, by_default.out);

  auto first = pipeline("predict", pair + " --model 1");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.err.find("scoring with model 1 ("), std::string::npos) << first.err;
  // After a rollback, model 1 is the published one.
  ASSERT_EQ(pipeline("rollback").exit_code, 0);
  auto rolled = pipeline("predict", pair);
  EXPECT_EQ(rolled.out, first.out);
  EXPECT_NE(rolled.err.find("scoring with model 1 ("), std::string::npos) << rolled.err;

  write_file(dir_ / "pairs.csv", "userId,movieId\n1," + movie + "\n");
  auto pairs = pipeline("predict", " --pairs " + quoted(dir_ / "pairs.csv") + " --model 3");
  ASSERT_EQ(pairs.exit_code, 0) << pairs.err;
  EXPECT_EQ(pairs.out, "userId,movieId,score\n1," + movie + "," + latest.out);

  auto missing = pipeline("predict", pair + " --model 7");
  EXPECT_EQ(missing.exit_code, 8);
  EXPECT_TRUE(missing.out.empty());
  EXPECT_NE(missing.err.find("model 7 is not kept (kept: 3, 2, 1)"), std::string::npos)
      << missing.err;
}

TEST_F(Rollback, KeepModelsPrunesWithALogLineButNeverASetsModel) {
  // Models 1 (kept set) and 2 (live) stay whatever keep.models says.
  auto r = pipeline("train", " --set keep.models=1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("removed model"), std::string::npos) << r.err;
  auto again = pipeline("train", " --set keep.models=1 --set model.seed=5");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("removed model 3 (dot, trained "), std::string::npos) << again.err;
  EXPECT_NE(again.err.find("keep.models is 1"), std::string::npos) << again.err;
  EXPECT_EQ(sqlite(db(),
                   "SELECT group_concat(model_id) FROM (SELECT model_id FROM models "
                   "ORDER BY model_id);"),
            "1,2,4\n");
  // A publish that removes the last sets naming models 1 and 2 prunes them
  // at once, not at the next training.
  auto publish = pipeline("score", " --set keep.models=1 --set keep.sets=1");
  ASSERT_EQ(publish.exit_code, 0) << publish.err;
  EXPECT_NE(publish.err.find("removed model 1 (dot, trained "), std::string::npos) << publish.err;
  EXPECT_NE(publish.err.find("removed model 2 (dot, trained "), std::string::npos) << publish.err;
  EXPECT_EQ(sqlite(db(), "SELECT group_concat(model_id) FROM models;"), "4\n");
  EXPECT_EQ(sqlite(db(), "SELECT model_id FROM publication;"), "4\n");
}

TEST(RollbackFresh, PredictBeforeAnyPublishUsesTheNewestModelAndSaysSo) {
  TempDir dir;
  auto config = make_dataset(dir, 50, 60, 800, "model:\n  factors: 3\n");
  ASSERT_EQ(run_pipeline("import --config " + quoted(config)).exit_code, 0);
  ASSERT_EQ(run_pipeline("train --config " + quoted(config)).exit_code, 0);
  const std::string user = sqlite(dir / "recs.db", "SELECT min(user_id) FROM ratings;");
  const std::string movie = sqlite(dir / "recs.db", "SELECT min(movie_id) FROM ratings;");
  auto r = run_pipeline("predict --config " + quoted(config) + " --user " +
                        user.substr(0, user.size() - 1) + " --movie " +
                        movie.substr(0, movie.size() - 1));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("scoring with model 1 (dot, trained "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nothing is published yet"), std::string::npos) << r.err;
  auto rollback = run_pipeline("rollback --config " + quoted(config));
  EXPECT_EQ(rollback.exit_code, 8) << rollback.err;
  EXPECT_EQ(last_log_line(rollback.err).message, "nothing to roll back to: nothing is published")
      << rollback.err;
}

TEST_F(Rollback, ReadersSeeTheOldOrTheNewCompleteSetDuringRollbacks) {
  // Four readers poll while rollbacks swap A (3000 rows, 10 for user 1) and
  // B (4500, 15) back and forth.
  std::string reader = "while [ ! -e '" + (dir_ / "stop").string() +
                       "' ]; do sqlite3 -batch -cmd '.timeout 5000' '" + db().string() +
                       "' \"SELECT count(*), (SELECT count(*) FROM recommendations WHERE "
                       "user_id = 1), (SELECT top_n FROM publication), (SELECT count(*) FROM "
                       "similar_movies) > 0 FROM recommendations;\" || echo ERROR; done";
  write_file(dir_ / "reader.sh", reader);
  std::vector<int> readers;
  for (int i = 0; i < 4; ++i) {
    readers.push_back(spawn("sh '" + (dir_ / "reader.sh").string() + "'",
                            dir_ / ("reads" + std::to_string(i)),
                            dir_ / ("errors" + std::to_string(i))));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (int k = 0; k < 10; ++k) {
    auto r = pipeline("rollback");
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  write_file(dir_ / "stop", "");
  for (int pid : readers) EXPECT_EQ(wait_exit(pid), 0);
  int a = 0, b = 0;
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(read_file(dir_ / ("errors" + std::to_string(i))), "");
    std::istringstream in(read_file(dir_ / ("reads" + std::to_string(i))));
    for (std::string line; std::getline(in, line);) {
      if (line == "3000|10|10|1") {
        ++a;
      } else if (line == "4500|15|15|1") {
        ++b;
      } else {
        ADD_FAILURE() << "reader saw a partial or mixed set: " << line;
      }
    }
  }
  EXPECT_GT(a + b, 0);
  EXPECT_EQ(live_dump(db()), b_);  // an even number of swaps
}

TEST_F(Rollback, KilledRollbacksLeaveOneCompleteSetLiveAndTheOtherKept) {
  // The two states a rollback moves between; a kill must leave one of them.
  const std::string state_b = live_dump(db()) + kept_dump(db());
  ASSERT_EQ(pipeline("rollback").exit_code, 0);
  const std::string state_a = live_dump(db()) + kept_dump(db());
  ASSERT_EQ(pipeline("rollback").exit_code, 0);
  ASSERT_EQ(live_dump(db()) + kept_dump(db()), state_b);

  const std::string cmd =
      "'" + pipeline_binary().string() + "' rollback --config " + quoted(config_);
  auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(wait_exit(spawn(cmd)), 0);
  auto full = std::chrono::steady_clock::now() - start;
  std::string now = live_dump(db()) + kept_dump(db());
  ASSERT_EQ(now, state_a);

  int changed = 0;
  for (int k = 1; k <= 16; ++k) {
    const std::string before = now;
    int victim = spawn(cmd, "/dev/null", dir_ / "victim.err");
    std::this_thread::sleep_for(full * k / 17);
    kill(-victim, SIGKILL);
    wait_exit(victim);
    EXPECT_EQ(sqlite(db(), "PRAGMA integrity_check;"), "ok\n") << "kill " << k;
    now = live_dump(db()) + kept_dump(db());
    changed += now != before;
    EXPECT_TRUE(now == state_a || now == state_b)
        << "kill " << k << " at " << k << "/17 of a rollback left a partial state";
  }
  // The next rollback needs no repair.
  auto r = pipeline("rollback");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(live_dump(db()) + kept_dump(db()), now);
  EXPECT_EQ(sqlite(db(), "PRAGMA integrity_check;"), "ok\n");
  RecordProperty("rollbacks_committed_before_the_kill", changed);
}

}  // namespace
}  // namespace recs::test
