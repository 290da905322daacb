// The command line as users meet it: the real binary's help, version, exit
// codes and one-line usage errors, and the global options in either place.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "test_util.h"

namespace recs::test {
namespace {

int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// A bad command line: exit 2, nothing on stdout, and exactly the line
// "<timestamp> error pipeline: <what> (see pipeline <command> --help)" on
// stderr.
void expect_usage_error(const std::string& args, const std::string& what,
                        const std::string& command) {
  SCOPED_TRACE("pipeline " + args);
  auto r = run_pipeline(args);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  const LogLine line = last_log_line(r.err);
  EXPECT_TRUE(line.ok && line.level == "error" && line.stage == "pipeline") << r.err;
  EXPECT_NE(r.err.find(what), std::string::npos) << r.err;
  std::string see = "(see pipeline" + (command.empty() ? "" : " " + command) + " --help)\n";
  EXPECT_TRUE(r.err.ends_with(see)) << r.err;
}

TEST(CliOptions, HelpOfEachCommandListsItsOptions) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> commands = {
      {"run", {"--config TEXT REQUIRED", "--set", "--json", "--dry-run"}},
      {"import", {"--config TEXT REQUIRED", "--set", "--json", "--dry-run"}},
      {"train", {"--config TEXT REQUIRED", "--set", "--json", "--dry-run"}},
      {"score",
       {"--config TEXT REQUIRED", "--set", "--json", "--dry-run", "--shard TEXT", "--shards INT"}},
      {"report", {"--config TEXT REQUIRED", "--set", "--out TEXT REQUIRED", "--runs INT:INT in"}},
      {"evaluate", {"--config TEXT REQUIRED", "--set"}},
      {"config", {"--config TEXT REQUIRED", "--set"}},
      {"publish", {"--config TEXT REQUIRED", "--set", "--model TEXT"}},
      {"rollback", {"--config TEXT REQUIRED", "--set", "--run INT"}},
      {"predict",
       {"--config TEXT REQUIRED", "--set", "--user INT Needs: --movie Excludes: --pairs",
        "--movie INT Needs: --user Excludes: --pairs", "--pairs TEXT Excludes: --user --movie",
        "--model TEXT=published", "--on-unknown TEXT:{error,skip,nan}=error Needs: --pairs"}},
      {"generate",
       {"--users INT REQUIRED", "--movies INT REQUIRED", "--ratings INT REQUIRED",
        "--out TEXT REQUIRED", "--seed UINT=42"}},
      {"bench", {"score", "publish", "readers", "shards"}},
      {"bench score",
       {"--users INT=162541", "--movies INT=59047", "--factors INT=64", "--top-n INT=100",
        "--threads INT=0", "--seed UINT=42", "--rated-fraction FLOAT=0",
        "--method TEXT:{exact,ann}=exact", "--nprobe INT", "--clusters INT", "--vectors-from TEXT",
        "--mask-rated", "--recall-sample INT"}},
      {"bench publish",
       {"--users INT=162541", "--movies INT=59047", "--top-n INT=100", "--seed UINT=42",
        "--keep-sets INT=2", "--dir TEXT"}},
      {"bench readers",
       {"--config TEXT REQUIRED", "--set", "--readers INT=4", "--idle-seconds FLOAT=2",
        "--query TEXT=sql/login.sql"}},
  };
  for (const auto& [command, options] : commands) {
    for (const char* flag : {"--help", "-h"}) {
      SCOPED_TRACE("pipeline " + command + " " + flag);
      auto r = run_pipeline(command + " " + flag);
      EXPECT_EQ(r.exit_code, 0);
      EXPECT_EQ(r.err, "");
      EXPECT_NE(r.out.find("Usage: pipeline " + command + " [OPTIONS]"), std::string::npos)
          << r.out;
      EXPECT_NE(r.out.find("-h,--help"), std::string::npos);
      for (const auto& option : options) {
        EXPECT_NE(r.out.find("  " + option), std::string::npos) << option << "\n" << r.out;
      }
      EXPECT_NE(r.out.find("-q,--quiet"), std::string::npos) << "names the global options";
    }
  }
}

TEST(CliOptions, TopLevelHelpListsEveryCommandAndTheGlobalOptions) {
  auto r = run_pipeline("--help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.out.find("Usage: pipeline [OPTIONS] SUBCOMMAND"), std::string::npos);
  for (const char* option :
       {"-h,--help", "--version", "-q,--quiet", "-v,--verbose", "--log-level"}) {
    EXPECT_NE(r.out.find("  " + std::string(option) + " "), std::string::npos) << option;
  }
  for (const char* command : {"run", "import", "train", "score", "publish", "rollback", "evaluate",
                              "predict", "report", "config", "generate", "bench"}) {
    EXPECT_NE(r.out.find("\n  " + std::string(command) + " "), std::string::npos) << command;
  }
}

TEST(CliOptions, VersionGoesToStdout) {
  for (const char* args : {"--version", "-q --version"}) {
    SCOPED_TRACE(args);
    auto r = run_pipeline(args);
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.out, "pipeline " RECS_VERSION "\n");
    EXPECT_EQ(r.err, "");
  }
}

TEST(CliOptions, UnknownOptionsAndCommands) {
  expect_usage_error("run --config c.yaml --bogus", "--bogus", "run");
  expect_usage_error("bench score --bogus 1", "--bogus", "bench score");
  expect_usage_error("--bogus", "unknown option --bogus", "");
  expect_usage_error("nope", "unknown command nope: one of run, import,", "");
  expect_usage_error("bench nope", "unknown command nope: one of score, publish, readers, shards",
                     "bench");
  expect_usage_error("", "missing command: one of run, import,", "");
  expect_usage_error("-q", "missing command", "");
  expect_usage_error("bench", "missing command: one of score, publish, readers, shards", "bench");
  expect_usage_error("generate --users 1 --movies 1 --ratings 1 --out d extra", "extra",
                     "generate");
}

TEST(CliOptions, MissingConfigIsAUsageError) {
  for (const char* command :
       {"run", "import", "train", "score", "publish --model 1", "rollback", "evaluate", "predict",
        "report --out r.html", "config", "bench readers"}) {
    const std::string name = std::string(command).substr(0, std::string(command).find(" --"));
    expect_usage_error(command, "--config is required", name);
    expect_usage_error(std::string(command) + " --config", "--config", name);
  }
  expect_usage_error("generate --movies 1 --ratings 1 --out d", "--users is required", "generate");
}

TEST(CliOptions, NumbersAreParsedStrictly) {
  const std::string gen = "generate --movies 1 --ratings 1 --out d ";
  expect_usage_error(gen + "--users 12x", "--users: expected an integer, got '12x'", "generate");
  expect_usage_error(gen + "--users 1.5", "--users: expected an integer, got '1.5'", "generate");
  expect_usage_error(gen + "--users 0x10", "--users: expected an integer, got '0x10'", "generate");
  expect_usage_error(gen + "--users \" 4\"", "--users: expected an integer, got ' 4'", "generate");
  expect_usage_error(gen + "--users 99999999999999999999",
                     "--users: 99999999999999999999 is out of range", "generate");
  expect_usage_error(gen + "--users 1 --seed -1",
                     "--seed: expected a non-negative integer, got '-1'", "generate");
  expect_usage_error("bench score --threads 2147483648", "--threads: 2147483648 is out of range",
                     "bench score");
  expect_usage_error("bench publish --seed -5", "--seed: expected a non-negative integer, got '-5'",
                     "bench publish");
  expect_usage_error("bench score --rated-fraction nan",
                     "--rated-fraction: expected a number, got 'nan'", "bench score");
  expect_usage_error("bench score --rated-fraction 0.5.1",
                     "--rated-fraction: expected a number, got '0.5.1'", "bench score");
  expect_usage_error("predict --config c.yaml --user 1x --movie 1",
                     "--user: expected an integer, got '1x'", "predict");
  expect_usage_error("predict --config c.yaml --user -1 --movie 1",
                     "--user: expected a positive id, got '-1'", "predict");
  expect_usage_error("predict --config c.yaml --user 1 --movie 0",
                     "--movie: expected a positive id, got '0'", "predict");
  expect_usage_error("rollback --config c.yaml --run 1x", "--run: expected an integer, got '1x'",
                     "rollback");
}

TEST(CliOptions, ModelChoices) {
  expect_usage_error("predict --config c.yaml --user 1 --movie 1 --model newest",
                     "--model: expected published or latest or a model id, got 'newest'",
                     "predict");
  expect_usage_error("predict --config c.yaml --user 1 --movie 1 --model 0",
                     "--model: expected published or latest or a model id, got '0'", "predict");
  expect_usage_error("publish --config c.yaml --model published",
                     "--model: expected latest or a model id, got 'published'", "publish");
  expect_usage_error("publish --config c.yaml --model 1x",
                     "--model: expected latest or a model id, got '1x'", "publish");
}

TEST(CliOptions, LeadingZerosAreDecimal) {
  // CLI11 alone would read 010 as octal 8.
  TempDir dir;
  const std::string gen = "generate --users 20 --movies 30 --ratings 100 --out ";
  ASSERT_EQ(run_pipeline(gen + quoted(dir / "a") + " --seed 010").exit_code, 0);
  ASSERT_EQ(run_pipeline(gen + quoted(dir / "b") + " --seed 10").exit_code, 0);
  ASSERT_EQ(run_pipeline(gen + quoted(dir / "c") + " --seed 8").exit_code, 0);
  EXPECT_EQ(read_file(dir / "a" / "ratings.csv"), read_file(dir / "b" / "ratings.csv"));
  EXPECT_NE(read_file(dir / "a" / "ratings.csv"), read_file(dir / "c" / "ratings.csv"));
}

TEST(CliOptions, ChoicesNeedsExcludesAndRepeats) {
  expect_usage_error("bench score --method fast", "--method: fast not in {exact,ann}",
                     "bench score");
  expect_usage_error("predict --config c.yaml --user 1", "--user requires --movie", "predict");
  expect_usage_error("predict --config c.yaml --movie 1", "--movie requires --user", "predict");
  expect_usage_error("predict --config c.yaml --pairs p.csv --user 1 --movie 2", "excludes",
                     "predict");
  expect_usage_error("run --config a.yaml --config b.yaml", "--config", "run");
  // One key=value per --set: a second word is not swallowed.
  expect_usage_error("run --config c.yaml --set a=1 b=2", "b=2", "run");
}

TEST(CliOptions, PredictWithoutPairsOrIdsIsAUsageError) {
  TempDir dir;
  write_file(dir / "c.yaml", "database: recs.db\n");
  expect_usage_error("predict --config " + quoted(dir / "c.yaml"),
                     "predict needs --user and --movie, or --pairs FILE", "predict");
}

TEST(CliOptions, QuietBeforeOrAfterTheCommand) {
  TempDir dir;
  auto config = make_dataset(dir, 60, 80, 1500, "model:\n  factors: 4\n");
  auto loud = run_pipeline("run --config " + quoted(config));
  ASSERT_EQ(loud.exit_code, 0) << loud.err;
  EXPECT_NE(loud.err.find(" info "), std::string::npos) << loud.err;
  for (const std::string& args :
       {"run -q --config " + quoted(config), "-q run --config " + quoted(config),
        "run --config " + quoted(config) + " --quiet"}) {
    SCOPED_TRACE(args);
    auto r = run_pipeline(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err.find(" info "), std::string::npos) << r.err;
  }
  EXPECT_EQ(sqlite(dir / "recs.db", "SELECT count(*), min(status) FROM runs;"), "4|succeeded\n");

  const std::string gen =
      "generate --users 20 --movies 30 --ratings 100 --out " + quoted(dir / "g") + " --seed 3";
  auto quiet = run_pipeline(gen + " -q");
  EXPECT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.err, "");
  auto nested = run_pipeline("bench score -q --users 10 --movies 10 --factors 2 --top-n 3");
  EXPECT_EQ(nested.exit_code, 0) << nested.err;
  EXPECT_EQ(nested.err, "");
  EXPECT_NE(nested.out.find("\"users\":10"), std::string::npos) << nested.out;
}

}  // namespace
}  // namespace recs::test
