// Helpers shared by the tests: temporary folders, running the real binary,
// and querying a database through the sqlite3 client as the web app would.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace recs::test {

// A fresh temporary directory, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `command` through /bin/sh, capturing stdout and stderr.
CommandResult run_command(const std::string& command);

// Runs the real `pipeline` binary with `args` (already shell-quoted as needed).
CommandResult run_pipeline(const std::string& args);

// Runs `sql` with the sqlite3 command-line client on `db` and returns its
// stdout (list mode, '|' separated), failing the test on a non-zero exit.
std::string sqlite(const std::filesystem::path& db, const std::string& sql);
// The same through a read-only connection (`sqlite3 -readonly`), which,
// unlike a read-write one closing last, leaves -wal and -shm in place.
std::string sqlite_readonly(const std::filesystem::path& db, const std::string& sql);

// Starts `command` through /bin/sh in the background (its own process group,
// stdout and stderr to the given files); returns its pid.
int spawn(const std::string& command, const std::filesystem::path& out = "/dev/null",
          const std::filesystem::path& err = "/dev/null");
// Waits for a spawned process; returns its exit code, or 128 + signal.
int wait_exit(int pid);

// A small data set in MovieLens format from the real generator, plus a
// config using it (database recs.db in `dir`). Returns the config path.
std::filesystem::path make_dataset(const TempDir& dir, int users, int movies, int ratings,
                                   const std::string& extra_yaml = "");

// One stderr line of the log's form (util/log.h), taken apart:
//   2026-12-01T20:00:00.123Z error [run 42] import: ratings.csv:17: ...
// `ok` is false when the line does not have that form.
struct LogLine {
  bool ok = false;
  std::string timestamp, level;
  std::int64_t run_id = 0;  // 0: the line names no run
  std::string stage, message;
};
LogLine parse_log_line(const std::string& line);
// The last line of `err` (a failed command's final error line), parsed.
LogLine last_log_line(const std::string& err);

void write_file(const std::filesystem::path& path, const std::string& contents);

// `path` in single quotes, for the command lines of run_pipeline() and
// run_command().
std::string quoted(const std::filesystem::path& path);
std::string read_file(const std::filesystem::path& path);

// Paths to the build's binary, the source tree and ../shared/data.
std::filesystem::path pipeline_binary();
std::filesystem::path source_dir();
std::filesystem::path shared_data();  // ../shared/data/ml-latest-small

}  // namespace recs::test
