// End to end: the web app's readers. Another user with read access to the
// database file and its folder, but no write access to either, runs every
// sql/ query with the sqlite3 client, read-only, before, during and after
// runs, after a killed run and after operators' sessions; and the files the
// pipeline creates are readable by their group under a strict umask. The
// reader is `nobody`, switched to with runuser, so these tests need root (as
// CI runs them).
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
  EXPECT_EQ(expect_every_query_reads(db, "after the first run"), 6);

  // During a run: a reader as nobody polls until the run has ended; every
  // read succeeds and some saw the run in progress. A read that fails is
  // retried once and noted: the one failure SQLite allows a read-only reader
  // is SQLITE_READONLY_RECOVERY while a pipeline command attaches to -shm as
  // its first user, which the README tells readers to retry.
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
  EXPECT_LE(retried, 2) << "one attach per pipeline command";
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

}  // namespace
}  // namespace recs::test
