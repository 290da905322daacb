// Faults at night: runs killed at many moments across every stage, a full
// disk during publish, overlapping runs. Each time the web app must keep the
// previous complete recommendations and the database must stay intact.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <set>
#include <thread>

#include "test_util.h"

namespace recs::test {
namespace {

class Faults : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = make_dataset(dir_, 4000, 2500, 200000,
                           "model:\n  factors: 16\n  epochs: 2\nscore:\n  top_n: 20\n");
    auto r = run_pipeline("run --config " + quoted(config_));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    published_ = checksum();
    ASSERT_EQ(published_.substr(0, published_.find('|')), "80000");
  }
  std::filesystem::path db() const { return dir_ / "recs.db"; }
  std::string checksum() {
    return sqlite(db(),
                  "SELECT count(*), sum(user_id * 7 + rank * 13 + movie_id), "
                  "round(sum(score), 3) FROM recommendations;");
  }
  std::string cmd(const std::string& args) {
    return "'" + pipeline_binary().string() + "' " + args;
  }
  TempDir dir_;
  std::filesystem::path config_;
  std::string published_;
};

// What a run logs as it enters each stage.
constexpr const char* kStages[] = {"] import: ", "] train: ", "] score: "};

TEST_F(Faults, KilledRunsAtTwentyMomentsLeaveThePreviousSet) {
  run_pipeline("generate --users 4200 --movies 2500 --ratings 210000 --seed 9 --out " +
               quoted(dir_ / "data"));
  // A different data set and top_n, so a completed run would change the set
  // (a wholly new export: its removals are meant).
  std::string run = cmd("run --config " + quoted(config_) +
                        " --set score.top_n=25 --set import.max_removed_share=1");
  auto start = std::chrono::steady_clock::now();
  int probe = spawn(run, "/dev/null", dir_ / "probe.err");
  ASSERT_EQ(wait_exit(probe), 0) << read_file(dir_ / "probe.err");
  auto full = std::chrono::steady_clock::now() - start;
  // The probe published a new set; make it the one the kills must preserve.
  published_ = checksum();
  std::string log = read_file(dir_ / "probe.err");
  for (const char* stage : kStages) {
    EXPECT_NE(log.find(stage), std::string::npos) << stage;
  }

  int killed_before_publish = 0;
  std::set<std::string> stages_hit;
  for (int k = 1; k <= 20; ++k) {
    std::string next =
        cmd("run --config " + quoted(config_) + " --set score.top_n=" + std::to_string(20 + k % 3));
    std::string live_run = sqlite(db(), "SELECT run_id FROM publication;");
    int victim = spawn(next, "/dev/null", dir_ / "victim.err");
    // Three kills in four wait for a stage to begin (import, train, score in
    // turn) and land a little into it, so every stage is hit however fast
    // the machine runs this night compared with the probe's; the others land
    // at fractions of the probe's run.
    bool exited = false;
    if (k % 4 != 0) {
      const std::string target = kStages[k % 3];
      const auto deadline = std::chrono::steady_clock::now() + full * 3;
      while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (waitpid(victim, &status, WNOHANG) == victim) {
          exited = true;
          break;
        }
        if (read_file(dir_ / "victim.err").find(target) != std::string::npos) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      std::this_thread::sleep_for(full * (k % 5) / 200);
    } else {
      std::this_thread::sleep_for(full * k / 21);
    }
    if (!exited) {
      kill(-victim, SIGKILL);
      wait_exit(victim);
    }
    // The stage the run was in when it died: the last one it logged.
    std::string log = read_file(dir_ / "victim.err");
    std::string last_stage = "(startup)";
    for (const char* stage : kStages) {
      if (log.find(stage) != std::string::npos) last_stage = stage;
    }
    stages_hit.insert(last_stage);
    EXPECT_EQ(sqlite(db(), "PRAGMA integrity_check;"), "ok\n") << "kill " << k;
    if (sqlite(db(), "SELECT run_id FROM publication;") == live_run) {
      ++killed_before_publish;
      EXPECT_EQ(checksum(), published_) << "kill " << k << " at " << k << "/21 of a run";
    } else {
      // Killed after its publish committed: the new set is complete and is
      // the previous set from now on.
      EXPECT_EQ(sqlite(db(),
                       "SELECT count(*) = (SELECT row_count FROM publication) AND "
                       "count(*) = (SELECT user_count * top_n FROM publication) "
                       "FROM recommendations;"),
                "1\n");
      published_ = checksum();
    }
  }
  // The kills landed before a publish several times and in every stage.
  EXPECT_GE(killed_before_publish, 3);
  EXPECT_GE(stages_hit.size(), 3u) << [&] {
    std::string hit;
    for (const auto& s : stages_hit) hit += "'" + s + "' ";
    return hit;
  }();
  auto r = run_pipeline("run --config " + quoted(config_));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(sqlite(db(), "PRAGMA integrity_check; SELECT count(*) FROM recommendations;"),
            "ok\n84000\n");
  EXPECT_NE(sqlite(db(), "SELECT count(*) FROM runs WHERE status = 'abandoned';"), "0\n");
}

TEST_F(Faults, FullDiskDuringPublishFailsCleanly) {
  // File-size limit just above the current files: the publish's WAL writes
  // hit EFBIG (SIGXFSZ ignored), as on a full disk.
  auto size_kb = (std::filesystem::file_size(db()) + 1023) / 1024;
  std::string limited = "sh -c \"trap '' XFSZ; ulimit -f " + std::to_string(size_kb + 64) +
                        "; exec " +
                        cmd("score --config " + quoted(config_) + " --set score.top_n=40") + "\"";
  auto r = run_command(limited);
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_EQ(last_log_line(r.err).level, "error") << r.err;
  EXPECT_NE(r.err.find("publishing failed, the previous recommendations stay in place"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(sqlite(db(), "PRAGMA integrity_check;"), "ok\n");
  EXPECT_EQ(checksum(), published_);
  // With room again, the next run publishes.
  auto again = run_pipeline("score --config " + quoted(config_) + " --set score.top_n=40");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(sqlite(db(), "SELECT count(*) FROM recommendations;"), "160000\n");
}

// The disk fills at every point of a publish, found by bisecting a file-size
// limit: wherever it fails, the error line says what happened. Either
// nothing was published and the previous set is whole, or the set was
// published and only the run's own record failed, which the line says
// instead of "nothing published".
TEST(FullDisk, EveryFailurePointSaysWhetherTheSetWasPublished) {
  namespace fs = std::filesystem;
  TempDir dir;
  const fs::path config = make_dataset(dir, 200, 300, 5000, "model: {type: als, epochs: 2}\n");
  const fs::path db = dir / "recs.db";
  ASSERT_EQ(run_pipeline("run -q --config " + quoted(config)).exit_code, 0);
  ASSERT_EQ(run_pipeline("score -q --config " + quoted(config)).exit_code, 0);  // -wal emptied
  ASSERT_EQ(fs::file_size(dir / "recs.db-wal"), 0u);
  fs::copy_file(db, dir / "saved.db");
  const std::string before = sqlite(db, "SELECT run_id FROM publication;");
  // One score at a file-size limit of `kb` KiB, from the saved database.
  struct Outcome {
    int exit_code;
    std::string message;
    bool published;
  };
  auto at = [&](std::uintmax_t kb) {
    fs::remove(dir / "recs.db-wal");
    fs::remove(dir / "recs.db-shm");
    fs::copy_file(dir / "saved.db", db, fs::copy_options::overwrite_existing);
    const CommandResult r =
        run_command("sh -c \"trap '' XFSZ; ulimit -f " + std::to_string(kb) + "; exec '" +
                    pipeline_binary().string() + "' score --config " + quoted(config) +
                    " --set score.top_n=60\"");
    return Outcome{r.exit_code, last_log_line(r.err).message,
                   sqlite(db, "SELECT run_id FROM publication;") != before};
  };
  // The limit applies to each file: the publish's WAL writes meet it first.
  std::uintmax_t lo = 8, hi = 16384;  // fails at lo, publishes at hi
  ASSERT_FALSE(at(lo).published);
  ASSERT_EQ(at(hi).exit_code, 0);
  while (hi - lo > 1) {
    const std::uintmax_t mid = (lo + hi) / 2;
    (at(mid).published ? hi : lo) = mid;
  }
  // Around the point where the set first goes live, every outcome says so.
  int committed_but_unrecorded = 0;
  for (std::uintmax_t kb = lo - 4; kb <= hi + 24; ++kb) {
    const Outcome o = at(kb);
    if (o.exit_code == 0) {
      EXPECT_TRUE(o.published) << kb;
      continue;
    }
    EXPECT_EQ(o.exit_code, 5) << kb << ": " << o.message;
    if (o.published) {
      ++committed_but_unrecorded;
      EXPECT_NE(o.message.find("the score's work is committed, but the run history could not "
                               "record it as succeeded"),
                std::string::npos)
          << kb << ": " << o.message;
    } else {
      EXPECT_NE(o.message.find("the previous recommendations stay in place"), std::string::npos)
          << kb << ": " << o.message;
    }
    EXPECT_EQ(sqlite(db, "PRAGMA integrity_check;"), "ok\n") << kb;
  }
  EXPECT_GT(committed_but_unrecorded, 0) << "the window between the publish and its record";
}

TEST_F(Faults, SecondRunIsRefusedWhileOneRuns) {
  int first = spawn(cmd("run --config " + quoted(config_)), "/dev/null", dir_ / "first.err");
  // Wait until the first run holds the lock (its first log line).
  for (int i = 0; i < 200 && read_file(dir_ / "first.err").empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto second = run_pipeline("run --config " + quoted(config_));
  EXPECT_EQ(second.exit_code, 7) << second.err;
  EXPECT_NE(second.err.find("another pipeline run is using this database"), std::string::npos);
  EXPECT_EQ(wait_exit(first), 0) << read_file(dir_ / "first.err");
  EXPECT_EQ(sqlite(db(), "SELECT status FROM runs ORDER BY run_id DESC LIMIT 1;"), "succeeded\n");
}

}  // namespace
}  // namespace recs::test

namespace recs::test {
namespace {

// ml-latest-small with the in-run evaluation (the gate) on, top 10, and
// `evaluate_extra` under evaluate:; returns the config's path.
std::filesystem::path gated_movielens(const TempDir& dir, const std::string& evaluate_extra = "") {
  const auto data = shared_data();
  const auto config = dir / "c.yaml";
  write_file(config, "database: recs.db\nimport:\n  ratings: " + (data / "ratings.csv").string() +
                         "\n  movies: " + (data / "movies.csv").string() +
                         "\nevaluate:\n  in_run: true\n" + evaluate_extra +
                         "score:\n  top_n: 10\n");
  return config;
}

TEST(QualityGate, RefusesAModelWorseThanPopularityAndKeepsTheOldSet) {
  TempDir dir;
  const auto config = gated_movielens(dir);
  auto good = run_pipeline("run --config " + quoted(config) + " --set model.type=als");
  ASSERT_EQ(good.exit_code, 0) << good.err;
  EXPECT_NE(good.err.find("quality gate passed"), std::string::npos);
  auto db = dir / "recs.db";
  std::string before = sqlite(db, "SELECT * FROM recommendations; SELECT run_id FROM publication;");

  // The tutorial's model ranks below popularity on MovieLens.
  auto bad = run_pipeline("run --config " + quoted(config) + " --set model.type=dot");
  EXPECT_EQ(bad.exit_code, 6) << bad.err;
  EXPECT_TRUE(
      last_log_line(bad.err).message.starts_with("quality gate refused to publish: NDCG@10 "))
      << bad.err;
  EXPECT_EQ(sqlite(db, "SELECT * FROM recommendations; SELECT run_id FROM publication;"), before);
  EXPECT_EQ(sqlite(db,
                   "SELECT status, message LIKE 'quality gate refused%', "
                   "json_extract(metrics, '$.gate_passed') FROM runs ORDER BY run_id DESC "
                   "LIMIT 1;"),
            "failed|1|0\n");

  auto forced = run_pipeline("run --config " + quoted(config) + " --set model.type=dot " +
                             "--set gate.enabled=false");
  EXPECT_EQ(forced.exit_code, 0) << forced.err;
}

// A changed evaluate.k still compares with the live set's run at a cut-off
// both measured; with none in common the run says it cannot compare.
TEST(QualityGate, TheDropIsJudgedAtACutOffBothRunsMeasured) {
  TempDir dir;
  const auto config = gated_movielens(dir, "  k: [10, 20]\n");
  const std::string run = "run --config " + quoted(config) + " --set model.type=als";
  ASSERT_EQ(run_pipeline(run).exit_code, 0);
  auto db = dir / "recs.db";
  const std::string before = sqlite(db, "SELECT run_id FROM publication;");
  const std::string worse = run + " --set model.als.factors=2";

  auto other_k = run_pipeline(worse + " --set 'evaluate.k=[5, 20]' --json");
  EXPECT_EQ(other_k.exit_code, 6) << other_k.err;
  EXPECT_NE(last_log_line(other_k.err).message.find("NDCG@20 "), std::string::npos) << other_k.err;
  EXPECT_NE(last_log_line(other_k.err).message.find("dropped more than gate.max_drop"),
            std::string::npos)
      << other_k.err;
  EXPECT_NE(other_k.out.find("\"published_k\":20"), std::string::npos) << other_k.out;
  EXPECT_EQ(sqlite(db, "SELECT run_id FROM publication;"), before);

  auto none = run_pipeline(worse + " --set 'evaluate.k=[5]'");
  EXPECT_EQ(none.exit_code, 0) << none.err;
  EXPECT_NE(none.err.find("the live set's run measured ndcg@10, ndcg@20 but none of evaluate.k"),
            std::string::npos)
      << none.err;
}

TEST(QualityGate, GeneratedDataRanksLikeRealData) {
  // Which movies a generated user rates follows taste, not only popularity,
  // so a ranking model beats the popularity baseline on it as on MovieLens
  // (measured: 0.32 against 0.23; when choices followed popularity alone the
  // gate refused, 0.36 against 0.38).
  TempDir dir;
  auto config =
      make_dataset(dir, 3000, 1500, 150000,
                   "model:\n  type: als\nevaluate:\n  in_run: true\nscore:\n  top_n: 10\n");
  auto r = run_pipeline("run --config " + quoted(config));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("quality gate passed"), std::string::npos) << r.err;
  const std::string ndcg =
      sqlite(dir / "recs.db",
             "SELECT json_extract(metrics, '$.eval_ndcg@10') / "
             "json_extract(metrics, '$.evaluation.popularity.\"ndcg@10\"') > 1.25 "
             "FROM runs ORDER BY run_id DESC LIMIT 1;");
  EXPECT_EQ(ndcg, "1\n");
}

}  // namespace
}  // namespace recs::test
