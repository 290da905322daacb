// Every run leaves a trace: log lines and the final error line carry a
// timestamp and the run id, and a refused run is recorded.
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

}  // namespace
}  // namespace recs::test
