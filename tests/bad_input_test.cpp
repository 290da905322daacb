// The bad-input corpus (tests/bad_inputs/cases.tsv): every file is refused by
// the nightly command with one clear error line naming the file and line (or
// the config key), the documented exit code, and the database unchanged byte
// for byte.
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
    std::getline(fields, c.fragment);
    c.exit_code = std::stoi(code);
    cases.push_back(c);
  }
  return cases;
}

class BadInput : public ::testing::TestWithParam<Case> {};

TEST(BadInputCorpus, HasAtLeastThirtyCases) { EXPECT_GE(load_cases().size(), 30u); }

TEST_P(BadInput, IsRefusedWithOneLineAndTheDatabaseUnchanged) {
  const Case& c = GetParam();
  TempDir dir;
  for (const char* f : {"ratings.csv", "movies_ok.csv"}) fs::copy_file(corpus() / f, dir / f);
  write_file(dir / "good.yaml",
             "database: recs.db\nimport:\n  ratings: ratings.csv\n  movies: movies_ok.csv\n");
  auto good = run_pipeline("run --config '" + (dir / "good.yaml").string() + "'");
  ASSERT_EQ(good.exit_code, 0) << good.err;
  auto db = dir / "recs.db";
  std::string bytes = test::read_file(db);
  std::string dump = test::sqlite(db, ".dump");

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
  std::istringstream err(r.err);
  int error_lines = 0;
  for (std::string line; std::getline(err, line);) {
    if (line.rfind("pipeline: error: ", 0) == 0) {
      ++error_lines;
      EXPECT_NE(line.find(c.fragment), std::string::npos) << line;
    }
  }
  EXPECT_EQ(error_lines, 1) << r.err;
  EXPECT_TRUE(test::read_file(db) == bytes) << "the database file changed";
  EXPECT_EQ(test::sqlite(db, ".dump"), dump);
}

INSTANTIATE_TEST_SUITE_P(Corpus, BadInput, ::testing::ValuesIn(load_cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace recs
