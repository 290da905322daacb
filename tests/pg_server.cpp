#include "pg_server.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>

namespace fs = std::filesystem;

namespace recs::test {
namespace {

// A TCP port nobody listens on right now (the kernel picks it).
int free_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) throw std::runtime_error("socket() failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(s);
    throw std::runtime_error("bind() failed");
  }
  const int port = ntohs(a.sin_port);
  ::close(s);
  return port;
}

std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

fs::path PgServer::bindir() {
  CommandResult r = run_command("pg_config --bindir 2>/dev/null");
  std::string dir = r.out.substr(0, r.out.find('\n'));
  if (r.exit_code == 0 && fs::exists(fs::path(dir) / "initdb")) return dir;
  for (const char* d :
       {"/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin"}) {
    if (fs::exists(fs::path(d) / "initdb")) return d;
  }
  return {};
}

std::string PgServer::as_server_user(const std::string& command) const {
  if (::geteuid() != 0) return command;
  return "runuser -u postgres -- sh -c " + sh_quote(command);
}

PgServer::PgServer(Options options) : tcp_(options.tcp) {
  const fs::path bin = bindir();
  if (bin.empty()) {
    ADD_FAILURE() << "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install "
                     "postgresql";
    throw std::runtime_error("no PostgreSQL server binaries");
  }
  data_ = dir_ / "data";
  socket_dir_ = dir_ / "sock";
  log_ = dir_ / "server.log";
  fs::create_directories(socket_dir_);
  if (::geteuid() == 0) {
    CommandResult c = run_command("chown -R postgres: " + sh_quote(dir_.path().string()));
    if (c.exit_code != 0) {
      ADD_FAILURE() << "chown to postgres failed: " << c.err;
      throw std::runtime_error("chown failed");
    }
  }
  CommandResult init = run_command(
      as_server_user(sh_quote((bin / "initdb").string()) + " -D " + sh_quote(data_.string()) +
                     " -U postgres -A trust -E UTF8 --locale=C --no-sync --no-instructions"));
  if (init.exit_code != 0) {
    ADD_FAILURE() << "initdb failed: " << init.out << init.err;
    throw std::runtime_error("initdb failed");
  }
  // Sockets always trust; TCP (localhost only) wants a password.
  write_file(data_ / "pg_hba.conf",
             "local all all trust\n"
             "host all all 127.0.0.1/32 scram-sha-256\n");
  port_ = free_port();
  std::string conf = "port = " + std::to_string(port_) +
                     "\n"
                     "unix_socket_directories = '" +
                     socket_dir_.string() +
                     "'\n"
                     "listen_addresses = '" +
                     std::string(tcp_ ? "127.0.0.1" : "") +
                     "'\n"
                     "fsync = off\n"
                     "max_connections = 40\n"
                     "shared_buffers = 32MB\n"
                     "password_encryption = 'scram-sha-256'\n" +
                     options.conf;
  write_file(data_ / "postgresql.auto.conf", conf);
  if (::geteuid() == 0) run_command("chown -R postgres: " + sh_quote(data_.string()));
  start();
  psql("CREATE DATABASE recs", "postgres");
}

PgServer::~PgServer() {
  if (running_) stop(true);
}

void PgServer::start() {
  CommandResult r = run_command(as_server_user(sh_quote((bindir() / "pg_ctl").string()) + " -D " +
                                               sh_quote(data_.string()) + " -l " +
                                               sh_quote(log_.string()) + " -w -t 30 start"));
  if (r.exit_code != 0) {
    ADD_FAILURE() << "pg_ctl start failed: " << r.out << r.err << read_file(log_);
    throw std::runtime_error("pg_ctl start failed");
  }
  running_ = true;
}

void PgServer::stop(bool immediate) {
  run_command(as_server_user(sh_quote((bindir() / "pg_ctl").string()) + " -D " +
                             sh_quote(data_.string()) + " -w -t 30 -m " +
                             (immediate ? "immediate" : "fast") + " stop"));
  running_ = false;
}

std::string PgServer::conninfo(const std::string& database) const {
  return "host=" + socket_dir_.string() + " port=" + std::to_string(port_) +
         " user=postgres dbname=" + database;
}

std::string PgServer::tcp_conninfo(const std::string& user, const std::string& database) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=" + user + " dbname=" + database;
}

CommandResult PgServer::try_psql(const std::string& sql, const std::string& database,
                                 const std::string& extra) const {
  TempDir tmp;
  write_file(tmp / "q.sql", sql);
  return run_command("psql -X -q -A -t -v ON_ERROR_STOP=1 " + extra + " " +
                     sh_quote(conninfo(database)) + " -f " + sh_quote((tmp / "q.sql").string()));
}

std::string PgServer::psql(const std::string& sql, const std::string& database,
                           const std::string& extra) const {
  CommandResult r = try_psql(sql, database, extra);
  EXPECT_EQ(r.exit_code, 0) << "psql failed on: " << sql << "\n" << r.err;
  return r.out;
}

CommandResult PgServer::psql_file(const fs::path& file, const std::string& extra,
                                  const std::string& conninfo) const {
  return run_command("psql -X -q -A -t -v ON_ERROR_STOP=1 " + extra + " " + sh_quote(conninfo) +
                     " -f " + sh_quote(file.string()));
}

std::vector<std::vector<std::string>> tsv_rows(const std::string& text,
                                               std::vector<std::size_t> drop) {
  std::vector<std::vector<std::string>> rows;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(at, end - at);
    at = end + 1;
    if (line.empty()) continue;
    std::vector<std::string> fields;
    std::size_t f = 0;
    for (std::size_t i = 0;; ++i) {
      const std::size_t tab = line.find('\t', f);
      std::string field = line.substr(f, tab == std::string::npos ? std::string::npos : tab - f);
      bool keep = true;
      for (std::size_t d : drop) keep &= d != i;
      if (keep) fields.push_back(std::move(field));
      if (tab == std::string::npos) break;
      f = tab + 1;
    }
    rows.push_back(std::move(fields));
  }
  return rows;
}

std::string sqlite_query_file(const fs::path& db, const fs::path& file,
                              const std::vector<std::string>& params) {
  std::string cmd = "sqlite3 -readonly -batch -separator \"$(printf '\\t')\" -cmd '.timeout 5000'";
  for (const auto& p : params) cmd += " -cmd '.param set :" + p + "'";
  CommandResult r =
      run_command(cmd + " " + sh_quote(db.string()) + " < " + sh_quote(file.string()));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

std::string psql_query_file(const std::string& conninfo, const fs::path& file,
                            const std::vector<std::string>& vars) {
  std::string cmd = "psql -X -q -A -t -v ON_ERROR_STOP=1 -F \"$(printf '\\t')\"";
  for (const auto& v : vars) cmd += " -v " + sh_quote(v);
  CommandResult r = run_command(cmd + " " + sh_quote(conninfo) + " -f " + sh_quote(file.string()));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

CommandResult psql_command(const std::string& conninfo, const std::string& sql) {
  TempDir tmp;
  write_file(tmp / "q.sql", sql);
  return run_command("psql -X -q -A -t -v ON_ERROR_STOP=1 -F \"$(printf '\\t')\" " +
                     sh_quote(conninfo) + " -f " + sh_quote((tmp / "q.sql").string()));
}

std::string serve_postgres(const std::string& conninfo) {
  return "--set " + sh_quote("serve.postgres=" + conninfo);
}

}  // namespace recs::test
