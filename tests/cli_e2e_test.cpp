// End to end: the real binary on real files, read back with the sqlite3
// client as the web app would.
#include <gtest/gtest.h>

#include "test_util.h"

namespace recs::test {
namespace {

int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

TEST(CliE2E, HelpAndVersion) {
  auto help = run_pipeline("--help");
  EXPECT_EQ(help.exit_code, 0);
  for (const char* cmd : {"run", "import", "train", "score", "predict", "generate", "bench"}) {
    EXPECT_NE(help.out.find(cmd), std::string::npos) << cmd;
  }
  auto version = run_pipeline("--version");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_NE(version.out.find("pipeline "), std::string::npos);
  EXPECT_EQ(run_pipeline("import --help").exit_code, 0);
}

TEST(CliE2E, UsageAndConfigErrorsAreOneLineWithDistinctCodes) {
  TempDir dir;
  auto none = run_pipeline("");
  EXPECT_EQ(none.exit_code, 2);
  auto missing = run_pipeline("import");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_EQ(count_lines(missing.err), 1) << missing.err;

  write_file(dir / "bad.yaml", "score:\n  top_n: -3\n");
  auto bad = run_pipeline("import --config " + quoted(dir / "bad.yaml"));
  EXPECT_EQ(bad.exit_code, 3);
  EXPECT_EQ(count_lines(bad.err), 1) << bad.err;
  const LogLine line = last_log_line(bad.err);
  EXPECT_TRUE(line.ok && line.level == "error" && line.run_id == 0) << bad.err;
  EXPECT_EQ(line.message,
            (dir / "bad.yaml").string() + ":2: score.top_n: must be in [1, 10000], got -3");
  EXPECT_FALSE(std::filesystem::exists(dir / "recs.db"));  // no valid config: nothing ran

  write_file(dir / "ok.yaml", "import:\n  ratings: missing.csv\n");
  auto nofile = run_pipeline("import --config " + quoted(dir / "ok.yaml"));
  EXPECT_EQ(nofile.exit_code, 3);
  EXPECT_NE(nofile.err.find("ok.yaml:2: import.ratings: file not found"), std::string::npos);
  // The config is valid: the missing export is a refused run, recorded in a
  // database created for it, with no data.
  EXPECT_EQ(sqlite(dir / "recs.db",
                   "SELECT command, status, message LIKE '%ok.yaml:2: import.ratings: file not "
                   "found%' FROM runs; SELECT count(*) FROM ratings;"),
            "import|refused|1\n0\n");
}

TEST(CliE2E, ImportsMovieLensSmallExactly) {
  TempDir dir;
  auto data = shared_data();
  ASSERT_TRUE(std::filesystem::exists(data / "ratings.csv")) << "missing " << data;
  write_file(dir / "c.yaml",
             "database: recs.db\nimport:\n  ratings: " + (data / "ratings.csv").string() +
                 "\n  movies: " + (data / "movies.csv").string() + "\n");
  auto r = run_pipeline("import --config " + quoted(dir / "c.yaml"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.empty()) << "stdout carries only requested results: " << r.out;
  auto db = dir / "recs.db";
  EXPECT_EQ(
      sqlite(db,
             "SELECT count(*), count(DISTINCT user_id), count(DISTINCT movie_id) FROM ratings;"),
      "100836|610|9724\n");
  EXPECT_EQ(sqlite(db, "SELECT count(*) FROM movies;"), "9742\n");
  EXPECT_EQ(sqlite(db,
                   "SELECT count(*) FROM movies WHERE genres LIKE '%' || char(13) || '%' "
                   "OR title LIKE '%' || char(13) || '%';"),
            "0\n");
  EXPECT_EQ(sqlite(db, "SELECT title FROM movies WHERE movie_id = 11;"),
            "American President, The (1995)\n");
  EXPECT_EQ(sqlite(db, "SELECT title, genres FROM movies WHERE movie_id = 193609;"),
            "Andrew Dice Clay: Dice Rules (1991)|Comedy\n");
  EXPECT_EQ(sqlite(db, "SELECT count(*) FROM ratings WHERE rating = 0.5;"), "1370\n");
  EXPECT_EQ(sqlite(db, "SELECT rating_count FROM movie_stats WHERE popularity_rank = 1;"), "329\n");
  EXPECT_EQ(sqlite(db, "SELECT command, status, json_extract(counts, '$.ratings') FROM runs;"),
            "import|succeeded|100836\n");

  // The tutorial's map without 0.5: refused with the first line using it.
  auto unmapped = run_pipeline("import --config " + quoted(dir / "c.yaml") +
                               " --set 'import.rating_map={1: -1, 1.5: -1, 2: -1, 2.5: -1, 3: 0, "
                               "3.5: 1, 4: 1, 4.5: 1, 5: 1}'");
  EXPECT_EQ(unmapped.exit_code, 4);
  EXPECT_NE(unmapped.err.find("ratings.csv:"), std::string::npos);
  EXPECT_NE(unmapped.err.find(": rating 0.5 has no entry in import.rating_map"), std::string::npos);
}

TEST(CliE2E, BadInputFailsAndLeavesTheDatabaseAsItWas) {
  TempDir dir;
  write_file(dir / "c.yaml", "import:\n  ratings: r.csv\n");
  write_file(dir / "r.csv", "userId,movieId,rating,timestamp\n1,10,4,5\n2,10,3,6\n");
  ASSERT_EQ(run_pipeline("import --config " + quoted(dir / "c.yaml")).exit_code, 0);
  auto db = dir / "recs.db";
  std::string before = sqlite(db, "SELECT * FROM ratings; SELECT * FROM movie_stats;");
  write_file(dir / "r.csv", "userId,movieId,rating,timestamp\n1,10,4,5\n3,11,2,7\n2,10,abc,6\n");
  auto r = run_pipeline("import --config " + quoted(dir / "c.yaml"));
  EXPECT_EQ(r.exit_code, 4);
  const LogLine last = last_log_line(r.err);
  EXPECT_TRUE(last.ok && last.level == "error" && last.run_id == 2 && last.stage == "import")
      << r.err;
  EXPECT_EQ(last.message, (dir / "r.csv").string() + ":4: rating is not a number: 'abc'");
  EXPECT_EQ(sqlite(db, "SELECT * FROM ratings; SELECT * FROM movie_stats;"), before);
  // The refusal is in the run history, with the line it names.
  EXPECT_EQ(sqlite(db, "SELECT run_id, status, message FROM runs WHERE run_id = 2;"),
            "2|refused|" + last.message + "\n");
}

TEST(CliE2E, DatabasePathThatIsADirectoryIsAConfigError) {
  TempDir dir;
  std::filesystem::create_directory(dir / "db");
  write_file(dir / "r.csv", "userId,movieId,rating,timestamp\n1,10,4,5\n");
  write_file(dir / "c.yaml", "database: db\nimport:\n  ratings: r.csv\n");
  auto r = run_pipeline("import --config " + quoted(dir / "c.yaml"));
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("c.yaml:1: database: is a directory"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace recs::test
