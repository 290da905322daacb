// A private PostgreSQL server for one test: initdb into a temporary folder,
// pg_ctl start on a free port with its Unix socket in that folder (TCP on
// localhost only when asked for), stopped and removed on destruction. Run as
// root, the server runs as the `postgres` user (the folder is given to it).
// A missing PostgreSQL installation fails the test: CI installs it.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "test_util.h"

namespace recs::test {

class PgServer {
 public:
  struct Options {
    // Also listen on 127.0.0.1 (port()), where pg_hba asks for a password
    // (scram-sha-256); the Unix socket always trusts.
    bool tcp = false;
    // More postgresql.conf lines, e.g. "log_lock_waits = on\n".
    std::string conf;
  };
  PgServer() : PgServer(Options{}) {}
  explicit PgServer(Options options);
  ~PgServer();
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  // libpq connection string for `database` as the superuser over the socket.
  std::string conninfo(const std::string& database = "recs") const;
  // The same over TCP (Options::tcp), as `user`, without a password.
  std::string tcp_conninfo(const std::string& user, const std::string& database = "recs") const;
  int port() const { return port_; }
  const std::filesystem::path& socket_dir() const { return socket_dir_; }
  const std::filesystem::path& dir() const { return dir_.path(); }
  // The server's log (pg_ctl -l).
  const std::filesystem::path& log() const { return log_; }

  // Runs `sql` with psql (unaligned, tuples only, '|' separated, stop on the
  // first error) on `database`, as the superuser; fails the test on a
  // non-zero exit. `extra` goes on psql's command line (e.g. "-v x=1").
  std::string psql(const std::string& sql, const std::string& database = "recs",
                   const std::string& extra = "") const;
  // The same, returning the whole result (exit code, stdout, stderr).
  CommandResult try_psql(const std::string& sql, const std::string& database = "recs",
                         const std::string& extra = "") const;
  // psql on a file, with `extra` options (e.g. "-v user_id=1").
  CommandResult psql_file(const std::filesystem::path& file, const std::string& extra,
                          const std::string& conninfo) const;

  void start();
  // Fast shutdown (-m fast), or `immediate` for a crash-like stop.
  void stop(bool immediate = false);
  bool running() const { return running_; }

  // The PostgreSQL binaries' folder (pg_config --bindir or Debian's).
  static std::filesystem::path bindir();

 private:
  std::string as_server_user(const std::string& command) const;

  TempDir dir_;
  std::filesystem::path data_;
  std::filesystem::path socket_dir_;
  std::filesystem::path log_;
  int port_ = 0;
  bool tcp_ = false;
  bool running_ = false;
};

// Rows of tab-separated output (psql -F tab, sqlite3 -separator tab), each
// split into its fields, with the columns in `drop` left out (e.g. a score,
// printed as float4 by PostgreSQL and as double by SQLite).
std::vector<std::vector<std::string>> tsv_rows(const std::string& text,
                                               std::vector<std::size_t> drop = {});

// Runs a query file of sql/ with the sqlite3 client, read-only, binding
// `params` ("name value" pairs, e.g. {"user_id 1", "limit 5"}); tab-separated.
std::string sqlite_query_file(const std::filesystem::path& db, const std::filesystem::path& file,
                              const std::vector<std::string>& params);

// psql on `conninfo`: a query file of sql/postgres/ with `-v` variables
// ({"user_id=1", "limit=5"}), tab-separated, tuples only; fails the test on a
// non-zero exit.
std::string psql_query_file(const std::string& conninfo, const std::filesystem::path& file,
                            const std::vector<std::string>& vars);
// One statement (or several) through psql on `conninfo`, tab-separated.
CommandResult psql_command(const std::string& conninfo, const std::string& sql);

// `conninfo` quoted for the pipeline's command line: --set serve.postgres=...
std::string serve_postgres(const std::string& conninfo);

}  // namespace recs::test
