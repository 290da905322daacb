// The bad-input corpus (tests/bad_inputs/cases.tsv): every file is refused by
// the nightly command with one clear error line naming the file and line (or
// the config key), with a timestamp and, once the run has one, its run id,
// and the documented exit code. A refusal after a valid config leaves every
// data table as it was and exactly one new runs row saying why; an invalid
// config writes nothing at all.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "test_util.h"

namespace recs {
namespace {

namespace fs = std::filesystem;
using test::run_pipeline;
using test::TempDir;
using test::write_file;

struct Case {
  std::string name, file, kind;
  int exit_code;
  std::string trace;  // "refused" or "none"
  std::string fragment;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

fs::path corpus() { return test::source_dir() / "tests" / "bad_inputs"; }

std::vector<Case> load_cases() {
  std::vector<Case> cases;
  std::ifstream in(corpus() / "cases.tsv");
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    Case c;
    std::string code;
    std::getline(fields, c.name, '\t');
    std::getline(fields, c.file, '\t');
    std::getline(fields, c.kind, '\t');
    std::getline(fields, code, '\t');
    std::getline(fields, c.trace, '\t');
    std::getline(fields, c.fragment);
    c.exit_code = std::stoi(code);
    cases.push_back(c);
  }
  return cases;
}

// Every table but the run history, schema and rows, in a stable order.
std::string data_tables(const fs::path& db) {
  std::istringstream names(test::sqlite(
      db, "SELECT name FROM sqlite_schema WHERE type = 'table' AND name <> 'runs' ORDER BY name;"));
  std::string dump;
  for (std::string table; std::getline(names, table);) {
    dump += table + ":\n" + test::sqlite(db, ".dump " + table);
  }
  return dump;
}

class BadInput : public ::testing::TestWithParam<Case> {};

TEST(BadInputCorpus, HasAtLeastThirtyCases) { EXPECT_GE(load_cases().size(), 30u); }

TEST(BadInputCorpus, EveryCaseSaysWhatItLeaves) {
  for (const Case& c : load_cases()) {
    EXPECT_TRUE(c.trace == "refused" || c.trace == "none") << c.name;
    // Only a config that does not load leaves nothing.
    if (c.trace == "none") {
      EXPECT_EQ(c.exit_code, 3) << c.name;
    }
  }
}

TEST_P(BadInput, IsRefusedWithOneLineAndTheDataUnchanged) {
  const Case& c = GetParam();
  TempDir dir;
  for (const char* f : {"ratings.csv", "movies_ok.csv"}) fs::copy_file(corpus() / f, dir / f);
  write_file(dir / "good.yaml",
             "database: recs.db\nimport:\n  ratings: ratings.csv\n  movies: movies_ok.csv\n");
  auto good = run_pipeline("run --config '" + (dir / "good.yaml").string() + "'");
  ASSERT_EQ(good.exit_code, 0) << good.err;
  auto db = dir / "recs.db";
  const std::string bytes = test::read_file(db);
  const std::string data = data_tables(db);
  const std::string runs = test::sqlite(db, "SELECT * FROM runs;");
  ASSERT_EQ(test::sqlite(db, "SELECT count(*), max(run_id) FROM runs;"), "1|1\n");

  fs::path config;
  if (c.kind == "config") {
    config = dir / c.file;
    fs::copy_file(corpus() / c.file, config);
  } else {
    config = dir / "case.yaml";
    fs::path ratings = c.kind == "ratings" ? corpus() / c.file : dir / "ratings.csv";
    fs::path movies = c.kind == "movies" ? corpus() / c.file : dir / "movies_ok.csv";
    write_file(config, "database: recs.db\nimport:\n  ratings: '" + ratings.string() +
                           "'\n  movies: '" + movies.string() + "'\n");
  }
  auto r = run_pipeline("run --config '" + config.string() + "'");
  EXPECT_EQ(r.exit_code, c.exit_code) << r.err;

  // One error line, the last one, in the log's form.
  std::istringstream err(r.err);
  int error_lines = 0;
  for (std::string line; std::getline(err, line);) {
    const test::LogLine l = test::parse_log_line(line);
    EXPECT_TRUE(l.ok) << "not in the log's form: " << line;
    error_lines += l.level == "error";
  }
  EXPECT_EQ(error_lines, 1) << r.err;
  const test::LogLine last = test::last_log_line(r.err);
  EXPECT_EQ(last.level, "error") << r.err;
  EXPECT_NE(last.message.find(c.fragment), std::string::npos) << last.message;

  EXPECT_EQ(data_tables(db), data) << "a data table changed";
  if (c.trace == "none") {
    EXPECT_EQ(last.run_id, 0) << r.err;
    EXPECT_TRUE(test::read_file(db) == bytes) << "the database file changed";
    EXPECT_EQ(test::sqlite(db, "SELECT * FROM runs;"), runs);
  } else {
    EXPECT_EQ(last.run_id, 2) << r.err;
    // The earlier run as it was, and one new row with the refusal.
    EXPECT_EQ(test::sqlite(db, "SELECT * FROM runs WHERE run_id = 1;"), runs);
    EXPECT_EQ(test::sqlite(db,
                           "SELECT count(*), max(run_id) FROM runs; "
                           "SELECT command, status, finished_at >= started_at FROM runs "
                           "WHERE run_id = 2;"),
              "2|2\nrun|refused|1\n");
    EXPECT_EQ(test::sqlite(db, "SELECT message FROM runs WHERE run_id = 2;"), last.message + "\n");
  }
}

INSTANTIATE_TEST_SUITE_P(Corpus, BadInput, ::testing::ValuesIn(load_cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace recs
