// End to end: the web app's readers. Another user with read access to the
// database file and its folder, but no write access to either, runs every
// sql/ query with the sqlite3 client, read-only, before, during and after
// runs, after a killed run and after operators' sessions; the files the
// pipeline creates are readable by their group under a strict umask; and the
// README's monitoring check on sql/freshness.sql says when the live set is
// stale or the last run failed. The reader is `nobody`, switched to with
// runuser, so these tests need root (as CI runs them).
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace recs::test {
namespace {
namespace fs = std::filesystem;

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// One row of list-mode output split at '|' (the last column, a message,
// may hold more of them).
std::vector<std::string> fields(const std::string& row, std::size_t columns = 8) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (out.size() + 1 < columns) {
    const std::size_t bar = row.find('|', at);
    if (bar == std::string::npos) break;
    out.push_back(row.substr(at, bar - at));
    at = bar + 1;
  }
  std::string last = row.substr(at);
  while (!last.empty() && last.back() == '\n') last.pop_back();
  out.push_back(last);
  return out;
}

std::string chomp(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

// The database's files in `dir`, names only, sorted ("recs.db recs.db-shm ...").
std::string db_files(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("recs.db", 0) == 0 && name != "recs.db.lock") names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : " ") + n;
  return out;
}

// A folder `nobody` may read and enter but not write: 0755 (or `mode`).
void open_for_reading(const fs::path& dir, fs::perms mode = fs::perms(0755)) {
  fs::permissions(dir, mode, fs::perm_options::replace);
}

// Runs `sql` (its own file, opened by root's shell) with the sqlite3 client
// as nobody; `open` is how the client opens the database, e.g.
// "-readonly 'recs.db'" or "'file:recs.db?mode=ro'".
CommandResult as_nobody(const std::string& open, const std::string& sql) {
  TempDir tmp;
  write_file(tmp / "q.sql", sql);
  return run_command("runuser -u nobody -- sqlite3 -batch -bail -cmd '.timeout 5000' " + open +
                     " < " + quoted(tmp / "q.sql"));
}

std::string readonly_flag(const fs::path& db) { return "-readonly " + quoted(db); }
std::string readonly_uri(const fs::path& db) { return "'file:" + db.string() + "?mode=ro'"; }

// Parameters for every sql/ file: a user and a movie that exist, a page.
std::string params(const fs::path& db) {
  std::string user = chomp(sqlite_readonly(db, "SELECT min(user_id) FROM recommendations;"));
  std::string movie = chomp(sqlite_readonly(db, "SELECT min(movie_id) FROM similar_movies;"));
  return ".param set :user_id " + user + "\n.param set :movie_id " + movie +
         "\n.param set :limit 5\n";
}

// Every query in sql/ (listed from the folder, so a new one is covered too),
// as nobody, through both read-only ways of opening. Each must succeed, say
// nothing on stderr and return rows. Returns how many queries ran.
int expect_every_query_reads(const fs::path& db, const std::string& when) {
  const std::string p = params(db);
  int ran = 0;
  for (const auto& e : fs::directory_iterator(source_dir() / "sql")) {
    if (e.path().extension() != ".sql") continue;
    const std::string sql = p + read_file(e.path());
    for (const auto& open : {readonly_flag(db), readonly_uri(db)}) {
      auto r = as_nobody(open, sql);
      EXPECT_EQ(r.exit_code, 0) << when << ": " << e.path().filename() << " via " << open << ": "
                                << r.err;
      EXPECT_EQ(r.err, "") << when << ": " << e.path().filename() << " via " << open;
      EXPECT_NE(r.out, "") << when << ": " << e.path().filename() << " via " << open;
    }
    ++ran;
  }
  return ran;
}

// The reader must really lack write access, or the tests prove nothing.
void expect_nobody_cannot_write(const fs::path& dir) {
  ASSERT_EQ(geteuid(), 0u);
  const auto probe = dir / "probe";
  EXPECT_NE(run_command("runuser -u nobody -- touch " + quoted(probe)).exit_code, 0);
  EXPECT_FALSE(fs::exists(probe));
  for (const char* name : {"recs.db", "recs.db-wal", "recs.db-shm"}) {
    EXPECT_NE(run_command("runuser -u nobody -- test -w " + quoted(dir / name)).exit_code, 0)
        << name;
  }
  EXPECT_EQ(run_command("runuser -u nobody -- test -r " + quoted(dir / "recs.db")).exit_code, 0)
      << "nobody cannot even read " << dir << " (TMPDIR not reachable by other users?)";
}

constexpr const char* kNeedsRoot =
    "switching to another user needs root (CI runs the suite as root)";

TEST(Readers, AnotherUserReadsEveryQueryBeforeDuringAndAfterRuns) {
  if (geteuid() != 0) GTEST_SKIP() << kNeedsRoot;
  TempDir dir;
  open_for_reading(dir.path());
  auto config = make_dataset(dir, 2000, 1500, 80000, "score:\n  top_n: 10\n");
  const auto db = dir / "recs.db";

  // The very first run creates the database, and -wal and -shm stay after it.
  auto r = run_pipeline("run --config " + quoted(config));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(db_files(dir.path()), "recs.db recs.db-shm recs.db-wal");
  expect_nobody_cannot_write(dir.path());
  EXPECT_EQ(expect_every_query_reads(db, "after the first run"), 7);

  // During a run: a reader as nobody polls until the run has ended; every
  // read succeeds and some saw the run in progress. A read that fails is
  // retried once and noted, so a failure shows what it was: none may fail,
  // SQLITE_READONLY_RECOVERY while a pipeline command attaches to -shm as its
  // first user included (db/first_attach.h).
  TempDir scripts;  // the reader's files: readable by nobody, written by root
  open_for_reading(scripts.path());
  const auto stop = scripts / "stop";
  write_file(scripts / "during.sql",
             params(db) + "SELECT 'status', status FROM runs ORDER BY run_id DESC LIMIT 1;\n" +
                 read_file(source_dir() / "sql/login.sql"));
  const std::string client = "sqlite3 -batch -bail -readonly -cmd '.timeout 5000' " + quoted(db) +
                             " < " + quoted(scripts / "during.sql");
  write_file(scripts / "reader.sh", "while [ ! -e " + quoted(stop) + " ]; do\n  if out=$(" +
                                        client + " 2>&1); then echo \"$out\"\n" +
                                        "  else echo \"RETRY $out\" | tr '\\n' ' '; echo; " +
                                        client + " || echo ERROR; fi\ndone\n");
  const int reader = spawn("runuser -u nobody -- sh " + quoted(scripts / "reader.sh"),
                           dir / "reads", dir / "read-errors");
  const int run = spawn("'" + pipeline_binary().string() + "' run --config " + quoted(config) +
                            " --set score.top_n=12",
                        "/dev/null", dir / "run.err");
  EXPECT_EQ(wait_exit(run), 0) << read_file(dir / "run.err");
  // The reader stops once it has read the ended run too (on a busy machine
  // its next read may take a while to start).
  for (int i = 0; i < 600; ++i) {
    if (read_file(dir / "reads").find("status|succeeded") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  write_file(stop, "");
  EXPECT_EQ(wait_exit(reader), 0);
  EXPECT_EQ(read_file(dir / "read-errors"), "");
  int running = 0, succeeded = 0, retried = 0;
  for (const auto& l : lines(read_file(dir / "reads"))) {
    EXPECT_NE(l, "ERROR");
    running += l == "status|running";
    succeeded += l == "status|succeeded";
    if (l.rfind("RETRY", 0) == 0) {
      ++retried;
      EXPECT_NE(l.find("attempt to write a readonly database"), std::string::npos) << l;
    }
  }
  EXPECT_EQ(retried, 0);
  EXPECT_GT(running, 0) << "no read happened while the run was in progress";
  EXPECT_GT(succeeded, 0);
  fs::remove(dir / "reads");
  fs::remove(dir / "read-errors");
  EXPECT_EQ(db_files(dir.path()), "recs.db recs.db-shm recs.db-wal");
  expect_every_query_reads(db, "after the second run");

  // An operator's read-only session, closing last, leaves what readers need.
  auto op = run_command("sqlite3 -readonly " + quoted(db) + " 'SELECT count(*) FROM runs;'");
  ASSERT_EQ(op.exit_code, 0) << op.err;
  EXPECT_EQ(db_files(dir.path()), "recs.db recs.db-shm recs.db-wal");
  expect_every_query_reads(db, "after an operator's sqlite3 -readonly");

  // A run killed at a random moment (here: once it is recorded as running).
  const int victim = spawn("'" + pipeline_binary().string() + "' score --config " + quoted(config) +
                           " --set score.top_n=15");
  for (int i = 0; i < 500; ++i) {
    if (sqlite_readonly(db, "SELECT status FROM runs ORDER BY run_id DESC LIMIT 1;") == "running\n")
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(-victim, SIGKILL);
  wait_exit(victim);
  EXPECT_EQ(db_files(dir.path()), "recs.db recs.db-shm recs.db-wal");
  expect_every_query_reads(db, "after a killed run");

  // A plain read-write sqlite3 session closing last removes -wal and -shm
  // (the README warns operators): readers fail until a pipeline command
  // opens the database again.
  op = run_command("sqlite3 " + quoted(db) + " 'SELECT count(*) FROM runs;'");
  ASSERT_EQ(op.exit_code, 0) << op.err;
  EXPECT_EQ(db_files(dir.path()), "recs.db");
  auto failed = as_nobody(readonly_flag(db), "SELECT count(*) FROM recommendations;");
  EXPECT_NE(failed.exit_code, 0);
  EXPECT_NE(failed.err.find("attempt to write a readonly database"), std::string::npos)
      << failed.err;
  r = run_pipeline("import --config " + quoted(config));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(db_files(dir.path()), "recs.db recs.db-shm recs.db-wal");
  expect_every_query_reads(db, "after the next pipeline command");

  // The README's way for an operator to write: a session that keeps them.
  op = run_command("sqlite3 -cmd '.filectrl persist_wal 1' " + quoted(db) +
                   " \"UPDATE runs SET message = 'checked by hand' WHERE run_id = 1;\"");
  ASSERT_EQ(op.exit_code, 0) << op.err;
  EXPECT_EQ(db_files(dir.path()), "recs.db recs.db-shm recs.db-wal");
  expect_every_query_reads(db, "after an operator's persist_wal session");
}

// The first open of a process truncates -shm and rebuilds its index; a
// read-only reader that looks in between must wait, not fail with
// SQLITE_READONLY_RECOVERY. Without the pipeline's guard (db/first_attach.h)
// three such readers had 8 failed reads in 200 opens on a quiet machine and
// 2 in 300 on a busy one; db_first_attach_test.cpp reproduces the state
// every time.
TEST(Readers, PollingReadersNeverFailWhilePipelineCommandsOpenTheDatabase) {
  if (geteuid() != 0) GTEST_SKIP() << kNeedsRoot;
  TempDir dir;
  open_for_reading(dir.path());
  auto config = make_dataset(dir, 300, 400, 8000, "similar:\n  enabled: false\n");
  const auto db = dir / "recs.db";
  auto r = run_pipeline("run --config " + quoted(config));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string user = chomp(sqlite_readonly(db, "SELECT min(user_id) FROM ratings;"));
  const std::string movie = chomp(sqlite_readonly(db, "SELECT min(movie_id) FROM movies;"));

  TempDir scripts;
  open_for_reading(scripts.path(), fs::perms(0777));  // the readers append their tallies here
  const auto stop = scripts / "stop";
  write_file(scripts / "reader.sh",
             "while [ ! -e " + quoted(stop) + " ]; do\n" +
                 "  sqlite3 -batch -readonly -cmd '.timeout 5000' " + quoted(db) +
                 " 'SELECT count(*) FROM recommendations;' >/dev/null 2>>\"$1.err\"" +
                 " || echo failed >> \"$1.failed\"\n  echo read >> \"$1.reads\"\ndone\n");
  std::vector<int> readers;
  for (int i = 0; i < 3; ++i) {
    const auto base = scripts / ("reader" + std::to_string(i));
    readers.push_back(
        spawn("runuser -u nobody -- sh " + quoted(scripts / "reader.sh") + " " + quoted(base)));
  }
  for (int i = 0; i < 100; ++i) {
    r = run_pipeline("predict --config " + quoted(config) + " --user " + user + " --movie " +
                     movie);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  write_file(stop, "");
  for (int pid : readers) EXPECT_EQ(wait_exit(pid), 0);
  std::size_t reads = 0;
  for (int i = 0; i < 3; ++i) {
    const auto base = scripts.path() / ("reader" + std::to_string(i));
    auto path_with = [&](const char* ext) { return fs::path(base.string() + ext); };
    reads += lines(read_file(path_with(".reads"))).size();
    EXPECT_FALSE(fs::exists(path_with(".failed"))) << read_file(path_with(".err"));
  }
  EXPECT_GT(reads, 100u) << "the readers hardly ran while the pipeline opened the database";
}

TEST(Readers, APipelineCommandThatCannotWriteTheDatabaseNamesIt) {
  if (geteuid() != 0) GTEST_SKIP() << kNeedsRoot;
  // An operator's mistake: `score` run as a user who may take the lock but
  // not write root's database. One line naming the file,
  // exit 5, the live set untouched.
  TempDir dir;
  auto config = make_dataset(dir, 100, 80, 3000);
  ASSERT_EQ(run_pipeline("run --config " + quoted(config)).exit_code, 0);
  const std::string before =
      sqlite_readonly(dir / "recs.db", "SELECT count(*), sum(score) FROM recommendations;");
  open_for_reading(dir.path(), fs::perms(0777));
  fs::permissions(dir / "recs.db.lock", fs::perms(0666), fs::perm_options::replace);
  auto r = run_command("runuser -u nobody -- '" + pipeline_binary().string() + "' score --config " +
                       quoted(config));
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_NE(last_log_line(r.err).message.find("recs.db: not readable and writable by this user"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(sqlite_readonly(dir / "recs.db", "SELECT count(*), sum(score) FROM recommendations;"),
            before);
}

TEST(Readers, TheFilesAreReadableByTheirGroupUnderAStrictUmask) {
  if (geteuid() != 0) GTEST_SKIP() << kNeedsRoot;
  // A folder of the readers' group, setgid so new files get that group, and
  // closed to everyone else: nobody reads through the group only.
  const group* g = getgrnam("nogroup");
  ASSERT_NE(g, nullptr);
  TempDir dir;
  auto config = make_dataset(dir, 300, 400, 8000);
  ASSERT_EQ(chown(dir.path().c_str(), 0, g->gr_gid), 0);
  open_for_reading(dir.path(), fs::perms(02750));
  auto r = run_command("umask 077 && '" + pipeline_binary().string() + "' run --config " +
                       quoted(config));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* name : {"recs.db", "recs.db-wal", "recs.db-shm"}) {
    struct stat st {};
    ASSERT_EQ(stat((dir / name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_mode & 07777, 0640u) << name;  // group reads; nobody else, no one writes
    EXPECT_EQ(st.st_gid, g->gr_gid) << name;
  }
  expect_nobody_cannot_write(dir.path());
  expect_every_query_reads(dir / "recs.db", "under umask 077");
}

// The README's monitoring check: the shell block after its marker.
std::string readme_check() {
  const auto readme = lines(read_file(source_dir() / "README.md"));
  std::string script;
  bool found = false, inside = false;
  for (const auto& l : readme) {
    if (l == "<!-- script: freshness-check -->") {
      found = true;
    } else if (found && l.rfind("```", 0) == 0) {
      if (inside) return script;
      inside = true;
    } else if (inside) {
      script += l + "\n";
    }
  }
  ADD_FAILURE() << "README.md has no freshness-check block";
  return "";
}

TEST(Readers, FreshnessQueryAndTheReadmesCheckTellAStaleOrFailedLiveSet) {
  if (geteuid() != 0) GTEST_SKIP() << kNeedsRoot;
  TempDir dir;
  open_for_reading(dir.path());
  const auto data = shared_data();
  const auto config = dir / "recs.yaml";
  write_file(config, "database: recs.db\nimport:\n  ratings: " + (data / "ratings.csv").string() +
                         "\n  movies: " + (data / "movies.csv").string() +
                         "\nscore:\n  top_n: 10\n");
  const auto db = dir / "recs.db";
  TempDir scripts;  // the check and the query it reads, readable by nobody
  open_for_reading(scripts.path());
  write_file(scripts / "check.sh", readme_check());
  fs::copy_file(source_dir() / "sql/freshness.sql", scripts / "freshness.sql");
  auto check = [&](const fs::path& database = "") {
    return run_command("RECS_DB=" + quoted(database.empty() ? db : database) +
                       " RECS_SQL=" + quoted(scripts.path()) + " runuser -u nobody -- sh " +
                       quoted(scripts / "check.sh"));
  };
  auto freshness = [&] {
    auto r = as_nobody(readonly_flag(db), read_file(source_dir() / "sql/freshness.sql"));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  };

  // Imported, nothing published yet: one row, the live columns empty.
  auto r = run_pipeline("import --config " + quoted(config));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto row = freshness();
  EXPECT_EQ(row.rfind("|||1|import|succeeded|", 0), 0u) << row;
  auto c = check();
  EXPECT_EQ(c.exit_code, 1) << c.err;
  EXPECT_NE(c.err.find("live set age none"), std::string::npos) << c.err;

  // Published just now, by the last run.
  r = run_pipeline("run --config " + quoted(config));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto f = fields(freshness());
  ASSERT_EQ(f.size(), 8u);
  ASSERT_FALSE(f[0].empty());
  const std::string published = chomp(sqlite_readonly(db, "SELECT published_at FROM publication;"));
  EXPECT_GE(std::stoll(f[0]), 0);
  EXPECT_LT(std::stoll(f[0]), 600);
  EXPECT_EQ(f[1], published);
  EXPECT_EQ(f[2] + " " + f[3] + " " + f[4] + " " + f[5], "2 2 run succeeded");
  EXPECT_GE(f[6], published);  // finished_at, ISO 8601 compares as text
  EXPECT_EQ(f[7], "");
  c = check();
  EXPECT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(c.err, "");

  // The last run failed (the quality gate refused the tutorial's model): the
  // live set is still the previous run's, and the check alerts.
  r = run_pipeline("run --config " + quoted(config) + " --set evaluate.in_run=true");
  ASSERT_EQ(r.exit_code, 6) << r.err;
  f = fields(freshness());
  ASSERT_EQ(f.size(), 8u);
  EXPECT_EQ(f[1] + " " + f[2] + " " + f[3] + " " + f[4] + " " + f[5],
            published + " 2 3 run failed");
  EXPECT_EQ(f[7].rfind("quality gate refused to publish", 0), 0u) << f[7];
  c = check();
  EXPECT_EQ(c.exit_code, 1);
  EXPECT_NE(c.err.find(" failed quality gate refused"), std::string::npos) << c.err;

  r = run_pipeline("run --config " + quoted(config));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(check().exit_code, 0);

  // A live set older than a day alerts; 23 hours does not. (The clock cannot
  // be moved, so the publication's time is: an operator's session that keeps
  // the files readers need.)
  auto published_ago = [&](const std::string& ago) {
    auto u = run_command("sqlite3 -cmd '.filectrl persist_wal 1' " + quoted(db) +
                         " \"UPDATE publication SET published_at = strftime('%Y-%m-%dT%H:%M:%SZ', "
                         "'now', '-" +
                         ago + "');\"");
    ASSERT_EQ(u.exit_code, 0) << u.err;
  };
  published_ago("25 hours");
  const std::string aged = freshness();
  ASSERT_FALSE(aged.empty());
  const long long old = std::stoll(aged);
  EXPECT_GE(old, 25 * 3600);
  EXPECT_LT(old, 25 * 3600 + 600);
  c = check();
  EXPECT_EQ(c.exit_code, 1);
  EXPECT_NE(c.err.find("live set age 9"), std::string::npos) << c.err;  // 90,000 s and more
  published_ago("23 hours");
  c = check();
  EXPECT_EQ(c.exit_code, 0) << c.err;

  // A database the check cannot read alerts too.
  c = check(dir / "missing.db");
  EXPECT_EQ(c.exit_code, 1);
}

}  // namespace
}  // namespace recs::test
