// The habits of a batch tool an operator can live with, driven through the
// real binary: -q, -v and --log-level anywhere on the line, `run --json`,
// `run --dry-run` (checks, writes nothing, exits as the run would),
// `pipeline config` agreeing with `run`, a bad --set as a bad command line,
// the exit codes in --help, predict's --on-unknown, progress lines on a
// terminal only, and sql/latest_run.sql with column names.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "test_util.h"
#include "util/error.h"

namespace recs::test {
namespace {

namespace fs = std::filesystem;

// A tiny dataset and its config; `model` picks a fast type.
struct Job {
  TempDir dir;
  fs::path config;
  explicit Job(const std::string& extra = "") { config = make_dataset(dir, 60, 120, 2000, extra); }
  fs::path db() const { return dir / "recs.db"; }
  CommandResult run(const std::string& command, const std::string& args = "") const {
    return run_pipeline(command + " --config " + quoted(config) + " " + args);
  }
};

// Every file in `dir` with its size, modification time and a hash of its
// bytes, to show that a command wrote nothing. Leaves out -shm, SQLite's
// shared-memory index, which every reader of a WAL database updates.
std::map<std::string, std::string> listing(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.ends_with("-shm")) continue;
    const auto t = fs::last_write_time(e.path()).time_since_epoch().count();
    const std::string bytes = e.is_regular_file() ? read_file(e.path()) : "";
    out[name] = std::to_string(bytes.size()) + " bytes, hash " +
                std::to_string(std::hash<std::string>{}(bytes)) + ", mtime " + std::to_string(t);
  }
  return out;
}

// A JSON document's field, read by SQLite's JSON functions (through the
// sqlite3 client, so the document must be valid JSON).
std::string json_field(const TempDir& dir, const std::string& json, const std::string& path) {
  write_file(dir / "doc.json", json);
  auto r = run_command("sqlite3 :memory: \"SELECT json_valid(readfile('" +
                       (dir / "doc.json").string() + "')), json_extract(readfile('" +
                       (dir / "doc.json").string() + "'), '" + path + "')\"");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with("1|")) << "not one JSON document: " << json;
  return r.out.size() > 2 ? r.out.substr(2, r.out.size() - 3) : "";
}

// A one-value query's answer without its newline.
std::string value(const fs::path& db, const std::string& sql) {
  std::string v = sqlite_readonly(db, sql);
  if (!v.empty() && v.back() == '\n') v.pop_back();
  return v;
}

int count_of(const std::string& text, const std::string& what) {
  int n = 0;
  for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

// One line per event, also when a message echoes a value with a line break
// in it (a YAML key or value): it is written escaped.
TEST(CliHabits, AnEchoedLineBreakStaysOnTheLine) {
  TempDir dir;
  write_file(dir / "c.yaml", "database: recs.db\n\"foo\\nbar\": 1\n");
  auto r = run_pipeline("config --config " + quoted(dir / "c.yaml"));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(count_of(r.err, "\n"), 1) << r.err;
  EXPECT_NE(r.err.find("foo\\nbar"), std::string::npos) << r.err;
}

TEST(CliHabits, QuietVerboseAndLogLevelGoAnywhere) {
  Job s;
  ASSERT_EQ(s.run("import").exit_code, 0);
  for (const std::string& line :
       {std::string("-q train --config C"), std::string("train -q --config C"),
        std::string("train --config C --log-level warn"),
        std::string("--log-level warn train --config C")}) {
    std::string args = line;
    args.replace(args.find(" C"), 2, " " + quoted(s.config));
    auto r = run_pipeline(args);
    EXPECT_EQ(r.exit_code, 0) << line << "\n" << r.err;
    EXPECT_EQ(r.err.find(" info "), std::string::npos) << line << "\n" << r.err;
  }
  auto verbose = s.run("train", "-v");
  EXPECT_EQ(verbose.exit_code, 0) << verbose.err;
  EXPECT_NE(verbose.err.find(" info "), std::string::npos);
  auto errors_only = s.run("train", "--log-level error --set model.epochs=1");
  EXPECT_EQ(errors_only.exit_code, 0);
  EXPECT_EQ(errors_only.err, "");
  EXPECT_EQ(s.run("train", "-q -v").exit_code, 2);
  EXPECT_EQ(s.run("train", "--log-level loud").exit_code, 2);
}

TEST(CliHabits, BadSetValuesAreBadCommandLines) {
  Job s;
  for (const char* set :
       {"score.top_n=x", "score.top_n=0", "score.nope=1", "score.top_n", "model.factors=abc"}) {
    auto r = s.run("config", std::string("--set ") + set);
    EXPECT_EQ(r.exit_code, 2) << set << "\n" << r.err;
    EXPECT_NE(last_log_line(r.err).message.find(std::string("--set ") + set), std::string::npos)
        << r.err;
    EXPECT_EQ(s.run("run", std::string("--set ") + set).exit_code, 2) << set;
  }
  EXPECT_FALSE(fs::exists(s.db()));  // nothing ran
  // A bad value in the file stays a bad configuration.
  write_file(s.dir / "bad.yaml", "score:\n  top_n: x\n");
  EXPECT_EQ(run_pipeline("config --config " + quoted(s.dir / "bad.yaml")).exit_code, 3);
}

TEST(CliHabits, HelpListsTheExitCodes) {
  for (const char* args : {"--help", "run --help", "predict --help"}) {
    auto r = run_pipeline(args);
    EXPECT_EQ(r.exit_code, 0);
    for (const char* line :
         {"Exit codes:", "  2  bad command line", "  3  bad configuration", "  4  bad input data",
          "  5  database error", "  6  refused to publish", "  7  another run holds the database",
          "  8  not found"}) {
      EXPECT_NE(r.out.find(line), std::string::npos) << args << ": " << line << "\n" << r.out;
    }
  }
}

// The README's table is the list --help prints (util/error.h), row by row.
TEST(CliHabits, ReadmeListsTheExitCodesHelpPrints) {
  std::ifstream readme(source_dir() / "README.md");
  ASSERT_TRUE(readme) << source_dir() / "README.md";
  std::string line;
  while (std::getline(readme, line) && line != "### Exit codes") {
  }
  std::vector<std::string> rows;
  while (std::getline(readme, line) && (line.empty() || line[0] == '|')) {
    if (line.starts_with("| ") && std::isdigit(static_cast<unsigned char>(line[2]))) {
      rows.push_back(line);
    }
  }
  std::vector<std::string> expected;
  for (const ExitCodeMeaning& m : kExitCodeMeanings) {
    expected.push_back(fmt::format("| {} | {} |", static_cast<int>(m.code), m.meaning));
  }
  EXPECT_EQ(rows, expected);
}

TEST(CliHabits, ConfigAgreesWithRunOnAMissingRatingsFile) {
  Job s;
  auto ok = s.run("config");
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  fs::remove(s.dir / "data" / "ratings.csv");
  auto config = s.run("config");
  auto run = s.run("run");
  EXPECT_EQ(config.exit_code, 3) << config.err;
  EXPECT_EQ(run.exit_code, 3) << run.err;
  EXPECT_EQ(config.out, "");
  EXPECT_NE(last_log_line(config.err).message.find("import.ratings: file not found"),
            std::string::npos)
      << config.err;
  // A database path that cannot be one: both refuse it too.
  auto elsewhere = s.run("config", "--set database=/nonexistent/folder/recs.db");
  EXPECT_EQ(elsewhere.exit_code, 3);
}

TEST(CliHabits, RunJsonPrintsOneDocumentOnStdout) {
  Job s;
  auto r = s.run("run", "--json -q");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_of(r.out, "\n"), 1) << r.out;
  EXPECT_EQ(json_field(s.dir, r.out, "$.status"), "succeeded");
  EXPECT_EQ(json_field(s.dir, r.out, "$.run_id"), "1");
  EXPECT_EQ(json_field(s.dir, r.out, "$.exit_code"), "0");
  EXPECT_EQ(json_field(s.dir, r.out, "$.summary.import.ratings"), "2000");
  EXPECT_EQ(json_field(s.dir, r.out, "$.summary.publish.users"),
            value(s.db(), "SELECT count(DISTINCT user_id) FROM recommendations;"));
  // The same figures as the run history keeps.
  EXPECT_EQ(json_field(s.dir, r.out, "$.summary"),
            value(s.db(), "SELECT json(summary) FROM runs WHERE run_id = 1;"));
  // A refused run prints its document too, with the exit code it ends with.
  write_file(s.dir / "data" / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,abc,1\n");
  auto refused = s.run("run", "--json");
  EXPECT_EQ(refused.exit_code, 4);
  EXPECT_EQ(json_field(s.dir, refused.out, "$.status"), "refused");
  EXPECT_EQ(json_field(s.dir, refused.out, "$.exit_code"), "4");
  EXPECT_NE(json_field(s.dir, refused.out, "$.message").find("rating is not a number"),
            std::string::npos);
}

TEST(CliHabits, DryRunWritesNothingAndExitsAsTheRunWould) {
  Job s;
  // No database yet: valid, and still none afterwards.
  const auto before = listing(s.dir.path());
  auto fresh = s.run("run", "--dry-run --json");
  EXPECT_EQ(fresh.exit_code, 0) << fresh.err;
  EXPECT_EQ(json_field(s.dir, fresh.out, "$.valid"), "1");
  EXPECT_EQ(json_field(s.dir, fresh.out, "$.ratings"), "2000");
  EXPECT_EQ(json_field(s.dir, fresh.out, "$.database_exists"), "0");
  fs::remove(s.dir / "doc.json");
  EXPECT_EQ(listing(s.dir.path()), before);
  // Nothing to train from, no model to score with: 8, as the stages.
  auto no_ratings = s.run("train", "--dry-run");
  EXPECT_EQ(no_ratings.exit_code, 8) << no_ratings.err;
  EXPECT_NE(last_log_line(no_ratings.err).message.find("no ratings (run 'pipeline import' first)"),
            std::string::npos)
      << no_ratings.err;
  EXPECT_EQ(s.run("score", "--dry-run").exit_code, 8);
  EXPECT_EQ(listing(s.dir.path()), before);
  ASSERT_EQ(s.run("import", "-q").exit_code, 0);
  EXPECT_EQ(s.run("train", "--dry-run").exit_code, 0);
  EXPECT_EQ(s.run("score", "--dry-run").exit_code, 8);
  EXPECT_EQ(s.run("score").exit_code, 8);
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(s.db().string() + suffix);

  ASSERT_EQ(s.run("run", "-q").exit_code, 0);
  const auto after_run = listing(s.dir.path());
  auto dry = s.run("run", "--dry-run");
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_EQ(dry.out, "");
  EXPECT_EQ(listing(s.dir.path()), after_run);  // no run row, no byte changed
  EXPECT_EQ(s.run("train", "--dry-run").exit_code, 0);
  EXPECT_EQ(s.run("score", "--dry-run").exit_code, 0);
  EXPECT_EQ(listing(s.dir.path()), after_run);

  // Each failure the run would meet, with its code; nothing written.
  const std::string ratings = read_file(s.dir / "data" / "ratings.csv");
  write_file(s.dir / "data" / "ratings.csv", ratings + "1,1,abc,1\n");
  const auto bad_input = listing(s.dir.path());
  auto input = s.run("run", "--dry-run");
  EXPECT_EQ(input.exit_code, 4) << input.err;
  EXPECT_NE(last_log_line(input.err).message.find("rating is not a number"), std::string::npos);
  EXPECT_EQ(s.run("run").exit_code, 4);  // the run agrees
  EXPECT_EQ(s.run("import", "--dry-run").exit_code, 4);
  EXPECT_EQ(s.run("train", "--dry-run").exit_code, 0);  // train reads no file
  write_file(s.dir / "data" / "ratings.csv", ratings);
  EXPECT_EQ(s.run("run", "--dry-run --set import.ratings=missing.csv").exit_code, 3);
  EXPECT_EQ(s.run("run", "--dry-run --set database=/nonexistent/x.db").exit_code, 3);

  // Another run holds the lock: 7, as the run.
  const int holder = spawn("flock " + quoted(s.dir / "recs.db.lock") + " sleep 30");
  for (int i = 0;
       i < 100 &&
       run_command("flock -n " + quoted(s.dir / "recs.db.lock") + " true").exit_code == 0;
       ++i) {
    run_command("sleep 0.05");
  }
  EXPECT_EQ(s.run("run", "--dry-run").exit_code, 7);
  // The database was not looked at: its findings are null, not "missing".
  auto locked = s.run("run", "--dry-run --json");
  EXPECT_EQ(locked.exit_code, 7);
  EXPECT_EQ(json_field(s.dir, locked.out, "$.exit_code"), "7");
  EXPECT_NE(locked.out.find("\"database_exists\":null,\"schema_version\":null"), std::string::npos)
      << locked.out;
  EXPECT_EQ(s.run("run").exit_code, 7);
  run_command("kill " + std::to_string(holder));
  wait_exit(holder);

  // A database that is not one: 5.
  write_file(s.dir / "other.db", std::string(8192, 'x'));
  auto broken = s.run("run", "--dry-run --set database=" + quoted(s.dir / "other.db"));
  EXPECT_EQ(broken.exit_code, 5) << broken.err;
  EXPECT_EQ(s.run("run", "--set database=" + quoted(s.dir / "other.db")).exit_code, 5);

  // A copy of the database without its -wal and -shm (a backup, a file
  // moved elsewhere): looked at, and nothing created beside it, even under
  // a name a file: URI must escape.
  const TempDir copies;
  const fs::path copy = copies.path() / "copy#1 ?%.db";
  fs::copy_file(s.dir / "recs.db", copy);
  const auto copied = listing(copies.path());
  auto looked = s.run("run", "--dry-run --json --set database=" + quoted(copy));
  EXPECT_EQ(looked.exit_code, 0) << looked.err;
  EXPECT_EQ(json_field(s.dir, looked.out, "$.schema_version"),
            value(s.db(), "PRAGMA user_version;"));
  EXPECT_EQ(listing(copies.path()), copied);
}

// A read-only copy of the database without -wal/-shm (a snapshot in a
// folder the reader cannot write): the read-only commands read it, where
// SQLite's read-only WAL open fails for want of -shm, and create nothing.
TEST(CliHabits, ReadOnlyCommandsReadACopyInAFolderTheyCannotWrite) {
  ASSERT_EQ(geteuid(), 0u) << "switches to nobody with runuser";
  Job s;
  ASSERT_EQ(s.run("run", "-q").exit_code, 0);
  const TempDir copies;
  fs::permissions(copies.path(), fs::perms(0755), fs::perm_options::replace);
  fs::copy_file(s.db(), copies / "recs.db");
  fs::permissions(copies / "recs.db", fs::perms(0644), fs::perm_options::replace);
  write_file(copies / "c.yaml", read_file(s.config));  // database: recs.db, beside it
  fs::copy(s.dir / "data", copies / "data");
  run_command("chmod -R a+rX " + quoted(copies / "data"));
  fs::permissions(copies / "c.yaml", fs::perms(0644), fs::perm_options::replace);
  const auto before = listing(copies.path());
  auto as_nobody = [&](const std::string& command) {
    return run_command("cd / && runuser -u nobody -- " + quoted(pipeline_binary()) + " " + command +
                       " -q --config " + quoted(copies / "c.yaml"));
  };
  // What SQLite alone does there.
  EXPECT_NE(run_command("runuser -u nobody -- sqlite3 -readonly " + quoted(copies / "recs.db") +
                        " 'SELECT count(*) FROM ratings'")
                .exit_code,
            0);
  auto evaluated = as_nobody("evaluate");
  EXPECT_EQ(evaluated.exit_code, 0) << evaluated.err;
  EXPECT_NE(evaluated.out.find("\"users_evaluated\""), std::string::npos) << evaluated.out;
  auto dry = as_nobody("run --dry-run");
  EXPECT_EQ(dry.exit_code, 5) << dry.err;  // a run could not write it, so neither would it
  EXPECT_EQ(listing(copies.path()), before);
  EXPECT_FALSE(fs::exists(copies / "recs.db-shm"));
}

// A log that cannot be written (the cron line's `2>>file` on a full disk,
// a pipe whose reader went away) does not stop the night's run.
TEST(CliHabits, ARunWhoseLogCannotBeWrittenStillRuns) {
  Job s;
  const std::string run = quoted(pipeline_binary()) + " run --config " + quoted(s.config);
  auto full = run_command(run + " 2>/dev/full");
  EXPECT_EQ(full.exit_code, 0);
  EXPECT_EQ(value(s.db(), "SELECT group_concat(status) FROM runs;"), "succeeded");
  // The reader reads one byte and leaves; the run's later lines meet EPIPE.
  run_command("sh -c '" + run + " -v; echo $? > " + (s.dir / "rc").string() +
              "' 2>&1 | head -c 1 > /dev/null");
  EXPECT_EQ(read_file(s.dir / "rc"), "0\n");
  EXPECT_EQ(value(s.db(), "SELECT group_concat(status) FROM runs;"), "succeeded,succeeded");
}

// A database the run's user cannot write is refused (5) without touching
// its -wal, so the night after the operator fixes the mode runs.
TEST(CliHabits, AReadOnlyDatabaseIsRefusedAndTheNextRunAfterTheFixWorks) {
  ASSERT_EQ(geteuid(), 0u) << "runs as nobody with runuser";
  Job s;
  run_command("chown -R nobody " + quoted(s.dir.path()));
  const std::string run =
      "runuser -u nobody -- " + quoted(pipeline_binary()) + " run -q --config " + quoted(s.config);
  ASSERT_EQ(run_command(run).exit_code, 0);
  const fs::path wal = s.dir / "recs.db-wal";
  const auto wal_mode = fs::status(wal).permissions();
  fs::permissions(s.db(), fs::perms(0444), fs::perm_options::replace);
  auto refused = run_command(run);
  EXPECT_EQ(refused.exit_code, 5) << refused.err;
  EXPECT_NE(last_log_line(refused.err).message.find("not readable and writable by this user"),
            std::string::npos)
      << refused.err;
  EXPECT_EQ(fs::status(wal).permissions(), wal_mode);
  fs::permissions(s.db(), fs::perms(0644), fs::perm_options::replace);
  auto fixed = run_command(run);
  EXPECT_EQ(fixed.exit_code, 0) << fixed.err;
}

// A user who rated after training: score folds them in and publishes rows;
// predict scores them the same way, so it agrees with what the web app shows.
TEST(Predict, AFoldedInUserScoresAsTheirPublishedRows) {
  Job s;
  ASSERT_EQ(s.run("run", "-q").exit_code, 0);
  const std::string movies =
      value(s.db(),
            "SELECT group_concat(movie_id) FROM (SELECT movie_id FROM movie_stats "
            "ORDER BY popularity_rank LIMIT 3);");
  std::string extra;
  std::size_t at = 0;
  for (int i = 0; i < 3; ++i) {
    const std::size_t comma = movies.find(',', at);
    extra += "999999," + movies.substr(at, comma - at) + ",5,1700000000\n";
    if (i < 2) extra += "999998," + movies.substr(at, comma - at) + ",4,1700000000\n";
    at = comma + 1;
  }
  write_file(s.dir / "data" / "ratings.csv", read_file(s.dir / "data" / "ratings.csv") + extra);
  ASSERT_EQ(s.run("import", "-q").exit_code, 0);
  ASSERT_EQ(s.run("score", "-q").exit_code, 0);
  const std::string row =
      value(s.db(),
            "SELECT movie_id || ' ' || score FROM recommendations WHERE user_id = 999999 "
            "AND rank = 1;");
  ASSERT_NE(row, "");
  const std::string movie = row.substr(0, row.find(' '));
  const double published = std::stod(row.substr(row.find(' ') + 1));
  auto one = s.run("predict", "--user 999999 --movie " + movie);
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_NEAR(std::stod(one.out), published, 1e-6);
  // Only the user asked about is solved, not every new one.
  EXPECT_NE(one.err.find("folded in 1 user(s)"), std::string::npos) << one.err;
  const std::string other =
      value(s.db(),
            "SELECT movie_id || ' ' || score FROM recommendations WHERE user_id = 999998 "
            "AND rank = 1;");
  ASSERT_NE(other, "");
  const std::string known = value(s.db(), "SELECT min(user_id) FROM recommendations;");
  write_file(s.dir / "pairs.csv", "userId,movieId\n999999," + movie + "\n" + known + "," + movie +
                                      "\n999998," + other.substr(0, other.find(' ')) + "\n");
  auto pairs = s.run("predict", "--pairs " + quoted(s.dir / "pairs.csv"));
  ASSERT_EQ(pairs.exit_code, 0) << pairs.err;
  EXPECT_NE(pairs.err.find("folded in 2 user(s)"), std::string::npos) << pairs.err;
  const std::string first = pairs.out.substr(0, pairs.out.find('\n', 21));
  EXPECT_NEAR(std::stod(first.substr(first.rfind(',') + 1)), published, 1e-6) << pairs.out;
  EXPECT_NEAR(std::stod(pairs.out.substr(pairs.out.rfind(',') + 1)),
              std::stod(other.substr(other.find(' ') + 1)), 1e-6)
      << pairs.out;
  // Without fold-in, score would not have published them either: unknown.
  EXPECT_EQ(s.run("predict", "-q --user 999999 --movie " + movie + " --set score.fold_in=false")
                .exit_code,
            4);
}

// Without a line each for the export's rows: those not naming `movie` in
// their `column` (0-based).
std::string without_movie(const std::string& csv, const std::string& movie, int column) {
  std::string out;
  std::size_t at = 0;
  while (at < csv.size()) {
    std::size_t end = csv.find('\n', at);
    if (end == std::string::npos) end = csv.size();
    const std::string line = csv.substr(at, end - at);
    std::size_t from = 0;
    for (int c = 0; c < column; ++c) from = line.find(',', from) + 1;
    if (line.substr(from, line.find(',', from) - from) != movie) out += line + "\n";
    at = end + 1;
  }
  return out;
}

// A movie an import removed after the model was trained still has a vector,
// so predict scores it, and says that no published list shows it.
TEST(Predict, AMovieRemovedSinceTrainingIsScoredWithAWarning) {
  Job s;
  ASSERT_EQ(s.run("run", "-q").exit_code, 0);
  const std::string user = value(s.db(), "SELECT min(user_id) FROM recommendations;");
  const std::string movie = value(
      s.db(), "SELECT movie_id FROM recommendations WHERE user_id = " + user + " AND rank = 1;");
  auto before = s.run("predict", "--user " + user + " --movie " + movie);
  ASSERT_EQ(before.exit_code, 0) << before.err;
  EXPECT_EQ(before.err.find("no longer in the database"), std::string::npos) << before.err;

  const fs::path data = s.dir / "data";
  write_file(data / "ratings.csv", without_movie(read_file(data / "ratings.csv"), movie, 1));
  write_file(data / "movies.csv", without_movie(read_file(data / "movies.csv"), movie, 0));
  ASSERT_EQ(s.run("import", "-q --set import.max_removed_share=1").exit_code, 0);
  ASSERT_EQ(value(s.db(), "SELECT count(*) FROM recommendations WHERE movie_id = " + movie + ";"),
            "0");
  auto after = s.run("predict", "--user " + user + " --movie " + movie);
  ASSERT_EQ(after.exit_code, 0) << after.err;
  EXPECT_EQ(after.out, before.out);
  EXPECT_NE(after.err.find("warn"), std::string::npos) << after.err;
  EXPECT_NE(
      after.err.find("1 movie asked about (first: " + movie + ") is no longer in the database"),
      std::string::npos)
      << after.err;
  write_file(s.dir / "pairs.csv", "userId,movieId\n" + user + "," + movie + "\n");
  auto pairs = s.run("predict", "--pairs " + quoted(s.dir / "pairs.csv"));
  ASSERT_EQ(pairs.exit_code, 0) << pairs.err;
  EXPECT_NE(pairs.err.find("is no longer in the database"), std::string::npos) << pairs.err;
}

TEST(Predict, OnUnknownErrorSkipOrNan) {
  Job s;
  ASSERT_EQ(s.run("run", "-q").exit_code, 0);
  const std::string u = value(s.db(), "SELECT min(user_id) FROM recommendations;");
  const std::string m = value(s.db(), "SELECT min(movie_id) FROM recommendations;");
  write_file(s.dir / "pairs.csv",
             "userId,movieId\n" + u + "," + m + "\n999999," + m + "\n" + u + ",888888\n");
  const std::string pairs = " --pairs " + quoted(s.dir / "pairs.csv");

  auto error = s.run("predict", pairs);
  EXPECT_EQ(error.exit_code, 4);
  EXPECT_EQ(error.out, "");
  EXPECT_NE(last_log_line(error.err).message.find("pairs.csv:3: user 999999 is not in the model"),
            std::string::npos)
      << error.err;
  EXPECT_EQ(s.run("predict", pairs + " --on-unknown error").exit_code, 4);

  auto skip = s.run("predict", pairs + " --on-unknown skip");
  EXPECT_EQ(skip.exit_code, 0) << skip.err;
  EXPECT_EQ(count_of(skip.out, "\n"), 2) << skip.out;  // header + the known pair
  EXPECT_TRUE(skip.out.starts_with("userId,movieId,score\n" + u + "," + m + ",")) << skip.out;
  EXPECT_NE(skip.err.find("left out 2 pairs the model does not know"), std::string::npos)
      << skip.err;

  auto nan = s.run("predict", pairs + " --on-unknown nan");
  EXPECT_EQ(nan.exit_code, 0) << nan.err;
  EXPECT_NE(nan.out.find("\n999999," + m + ",nan\n"), std::string::npos) << nan.out;
  EXPECT_NE(nan.out.find("\n" + u + ",888888,nan\n"), std::string::npos) << nan.out;
  EXPECT_EQ(count_of(nan.out, "\n"), 4);

  // Malformed rows fail whatever the policy; the option needs --pairs.
  write_file(s.dir / "bad.csv", "userId,movieId\n" + u + ",x\n");
  EXPECT_EQ(
      s.run("predict", "--pairs " + quoted(s.dir / "bad.csv") + " --on-unknown skip").exit_code, 4);
  EXPECT_EQ(s.run("predict", "--user " + u + " --movie " + m + " --on-unknown skip").exit_code, 2);
  EXPECT_EQ(s.run("predict", pairs + " --on-unknown drop").exit_code, 2);
}

// `script` gives the command a pseudo-terminal as stderr.
TEST(Progress, DrawnOnATerminalOnly) {
  Job s("model:\n  type: als\n  als: {factors: 8, epochs: 4}\n");
  auto plain = s.run("run");
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(plain.err.find('\r'), std::string::npos);
  EXPECT_EQ(plain.err.find("of 4 iterations"), std::string::npos);

  auto on_terminal = [&](const std::string& args) {
    write_file(s.dir / "tty.sh", "exec " + quoted(pipeline_binary()) + " run " + args +
                                     " --config " + quoted(s.config) + " 2>&1\n");
    return run_command("script -qec 'sh " + (s.dir / "tty.sh").string() + "' /dev/null");
  };
  auto tty = on_terminal("");
  ASSERT_EQ(tty.exit_code, 0) << tty.out;
  EXPECT_NE(tty.out.find("\rtrain: 4 of 4 iterations (100 %)"), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find("\rimport: 2000 ratings"), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find("\rscore and publish: "), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find("\r\033[K"), std::string::npos);  // cleared before the next log line
  // -q on a terminal: no progress either.
  auto quiet = on_terminal("-q");
  EXPECT_EQ(quiet.exit_code, 0);
  EXPECT_EQ(quiet.out.find("iterations"), std::string::npos) << quiet.out;
}

TEST(LatestRun, PrintsColumnNamesTitlesAndTheSummary) {
  Job s;
  ASSERT_EQ(s.run("run", "-q").exit_code, 0);
  auto r = run_command("sqlite3 -readonly -header -column " + quoted(s.db()) + " < " +
                       quoted(source_dir() / "sql/latest_run.sql"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* header : {"published_at", "user_id  rank  movie_id  title", "ratings", "churn",
                             "coverage", "total_seconds"}) {
    EXPECT_NE(r.out.find(header), std::string::npos) << header << "\n" << r.out;
  }
  const std::string title =
      value(s.db(),
            "SELECT m.title FROM recommendations r JOIN movies m USING (movie_id) "
            "WHERE r.user_id = (SELECT min(user_id) FROM recommendations) AND r.rank = 1;");
  EXPECT_NE(r.out.find(title), std::string::npos) << r.out;
  // Without a catalog (import.movies: ''), the users' lists still show.
  Job uncatalogued;
  ASSERT_EQ(uncatalogued.run("run", "-q --set \"import.movies=''\"").exit_code, 0);
  ASSERT_EQ(value(uncatalogued.db(), "SELECT count(*) FROM movies;"), "0");
  auto bare = run_command("sqlite3 -readonly -list " + quoted(uncatalogued.db()) + " < " +
                          quoted(source_dir() / "sql/latest_run.sql"));
  ASSERT_EQ(bare.exit_code, 0) << bare.err;
  const std::string first =
      value(uncatalogued.db(),
            "SELECT user_id || '|1|' || movie_id || '||' FROM recommendations "
            "WHERE user_id = (SELECT min(user_id) FROM recommendations) AND rank = 1;");
  EXPECT_NE(bare.out.find(first), std::string::npos) << first << "\n" << bare.out;
}

}  // namespace
}  // namespace recs::test
