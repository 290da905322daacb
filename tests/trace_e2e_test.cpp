// Every run leaves a trace: log lines and the final error line carry a
// timestamp and the run id, and a refused run is recorded; the commands
// that only read write nothing.
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

TEST_F(Trace, EveryLineOfARunNamesItsRun) {
  auto r = run_pipeline("run --config " + quoted(config_));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = lines_of(r.err);
  ASSERT_FALSE(lines.empty());
  for (const auto& line : lines) {
    const LogLine l = parse_log_line(line);
    EXPECT_TRUE(l.ok) << line;
    EXPECT_EQ(l.run_id, 1) << line;
  }
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
  EXPECT_EQ(sqlite(db(),
                   "SELECT command, status, message FROM runs; "
                   "SELECT (SELECT count(*) FROM ratings) + (SELECT count(*) FROM movies) + "
                   "(SELECT count(*) FROM models) + (SELECT count(*) FROM recommendations);"),
            "run|refused|" + last.message + "\n0\n");
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
