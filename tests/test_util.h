// Helpers shared by the tests: temporary folders, running the real binary,
// and querying a database through the sqlite3 client as the web app would.
#pragma once

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

void write_file(const std::filesystem::path& path, const std::string& contents);
std::string read_file(const std::filesystem::path& path);

// Paths to the build's binary, the source tree and ../shared/data.
std::filesystem::path pipeline_binary();
std::filesystem::path source_dir();
std::filesystem::path shared_data();  // ../shared/data/ml-latest-small

}  // namespace recs::test
