#include "test_util.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

namespace recs::test {
namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string templ = (fs::temp_directory_path() / "recs-test-XXXXXX").string();
  if (!mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
  path_ = templ;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

CommandResult run_command(const std::string& command) {
  TempDir tmp;
  auto out_path = tmp / "stdout";
  auto err_path = tmp / "stderr";
  std::string full = "(" + command + ") >'" + out_path.string() + "' 2>'" + err_path.string() + "'";
  int status = std::system(full.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(out_path);
  r.err = read_file(err_path);
  return r;
}

CommandResult run_pipeline(const std::string& args) {
  return run_command("'" + pipeline_binary().string() + "' " + args);
}

namespace {

std::string sqlite_client(const std::string& options, const fs::path& db, const std::string& sql) {
  TempDir tmp;
  write_file(tmp / "q.sql", sql);
  // A busy timeout, as the README tells every reader to set: a pipeline
  // command's first open rebuilds -shm under a lock held for microseconds.
  auto r = run_command("sqlite3 -batch -cmd '.timeout 5000' " + options + "'" + db.string() +
                       "' < '" + (tmp / "q.sql").string() + "'");
  EXPECT_EQ(r.exit_code, 0) << "sqlite3 failed: " << r.err << "\nSQL: " << sql;
  return r.out;
}

}  // namespace

std::string sqlite(const fs::path& db, const std::string& sql) {
  return sqlite_client("", db, sql);
}

std::string sqlite_readonly(const fs::path& db, const std::string& sql) {
  return sqlite_client("-readonly ", db, sql);
}

LogLine parse_log_line(const std::string& line) {
  static const std::regex form(
      R"(^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (debug|info|warn|error) +)"
      R"((?:\[run (\d+)\] )?([^:\[\]]+): (.*)$)");
  std::smatch m;
  LogLine l;
  if (!std::regex_match(line, m, form)) return l;
  l.ok = true;
  l.timestamp = m[1];
  l.level = m[2];
  l.run_id = m[3].matched ? std::stoll(m[3]) : 0;
  l.stage = m[4];
  l.message = m[5];
  return l;
}

LogLine last_log_line(const std::string& err) {
  std::string s = err;
  if (!s.empty() && s.back() == '\n') s.pop_back();
  const auto at = s.rfind('\n');
  return parse_log_line(at == std::string::npos ? s : s.substr(at + 1));
}

int spawn(const std::string& command, const fs::path& out, const fs::path& err) {
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    std::string full = "exec >'" + out.string() + "' 2>'" + err.string() + "'; exec " + command;
    execl("/bin/sh", "sh", "-c", full.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  if (pid < 0) throw std::runtime_error("fork failed");
  return pid;
}

int wait_exit(int pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

fs::path make_dataset(const TempDir& dir, int users, int movies, int ratings,
                      const std::string& extra_yaml) {
  auto r = run_pipeline("generate --users " + std::to_string(users) + " --movies " +
                        std::to_string(movies) + " --ratings " + std::to_string(ratings) +
                        " --out '" + (dir / "data").string() + "'");
  if (r.exit_code != 0) throw std::runtime_error("generate failed: " + r.err);
  auto config = dir / "recs.yaml";
  write_file(config,
             "database: recs.db\n"
             "import:\n  ratings: data/ratings.csv\n  movies: data/movies.csv\n" +
                 extra_yaml);
  return config;
}

void write_file(const fs::path& path, const std::string& contents) {
  std::ofstream f(path, std::ios::binary);
  f << contents;
  if (!f) throw std::runtime_error("cannot write " + path.string());
}

std::string read_file(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

fs::path pipeline_binary() { return RECS_PIPELINE_BIN; }
fs::path source_dir() { return RECS_SOURCE_DIR; }
fs::path shared_data() { return fs::path(RECS_SHARED_DATA) / "ml-latest-small"; }

std::string quoted(const std::filesystem::path& path) { return "'" + path.string() + "'"; }

}  // namespace recs::test
