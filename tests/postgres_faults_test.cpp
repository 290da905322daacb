// Faults while publishing into PostgreSQL: the server restarted mid-publish,
// the connection dropped during COPY, the server's disk full, a wrong
// password, a server that is not there. Each time the live generation stays
// complete, the run exits 5 with one error line naming the server (never
// the password) and the run history records the failure; the next run
// succeeds.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "pg_server.h"
#include "test_util.h"

namespace recs::test {
namespace {
namespace fs = std::filesystem;

std::string chomp(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

// The live generation as a reader sees it: "generation rows" when complete
// (its rows match its publication row), else a description of what is wrong.
std::string live_set(const std::string& conninfo) {
  CommandResult r = psql_command(
      conninfo,
      "SELECT p.generation, p.row_count, (SELECT count(*) FROM recs.recommendations) FROM "
      "recs.publication AS p");
  if (r.exit_code != 0) return "unreadable: " + r.err;
  const auto rows = tsv_rows(r.out);
  if (rows.size() != 1 || rows[0].size() != 3) return "no publication: " + r.out;
  if (rows[0][1] != rows[0][2] || rows[0][1] == "0")
    return "incomplete: " + rows[0][2] + " of " + rows[0][1] + " rows";
  return rows[0][0] + " " + rows[0][1];
}

class PostgresFaults : public ::testing::Test {
 protected:
  void publish_first(PgServer& pg, int users = 300) {
    config_ = make_dataset(dir_, users, 400, users * 40, "score:\n  threads: 1\n");
    serve_ = pg.conninfo();
    CommandResult r =
        run_pipeline("run -q --config " + quoted(config_) + " " + serve_postgres(serve_));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    live_ = live_set(serve_);
    ASSERT_EQ(live_.rfind("1 ", 0), 0u) << live_;
  }

  // The run failed as it should: exit 5, its last line the error naming
  // `server` and saying the live set stays, without `secret`; the run
  // history has it as failed.
  void expect_failed(const CommandResult& r, const std::string& server, const std::string& reason,
                     const std::string& secret = "") {
    EXPECT_EQ(r.exit_code, 5) << r.err;
    const LogLine line = last_log_line(r.err);
    EXPECT_EQ(line.level, "error") << r.err;
    EXPECT_EQ(line.message.rfind(server + ": publishing failed, the live set stays in place: ", 0),
              0u)
        << line.message;
    EXPECT_NE(line.message.find(reason), std::string::npos) << line.message;
    if (!secret.empty()) {
      EXPECT_EQ(r.err.find(secret), std::string::npos) << r.err;
    }
    std::cerr << "error line: " << line.message << "\n";
    const std::string last = chomp(sqlite_readonly(
        dir_ / "recs.db", "SELECT status, message FROM runs ORDER BY run_id DESC LIMIT 1"));
    EXPECT_EQ(last, "failed|" + line.message);
  }

  // `reader` reads the live set (default: the pipeline's `conninfo`).
  void expect_next_run_succeeds(const std::string& conninfo, const std::string& env = "",
                                const std::string& reader = "") {
    CommandResult r = run_pipeline_env(
        env, "score -q --config " + quoted(config_) + " " + serve_postgres(conninfo));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string now = live_set(reader.empty() ? conninfo : reader);
    EXPECT_EQ(now.find("incomplete"), std::string::npos) << now;
    EXPECT_NE(now, live_);
  }

  static CommandResult run_pipeline_env(const std::string& env, const std::string& args) {
    return run_command(env + " '" + pipeline_binary().string() + "' " + args);
  }

  std::string server_name(const PgServer& pg) const {
    return "PostgreSQL " + pg.socket_dir().string() + ":" + std::to_string(pg.port()) + "/recs";
  }

  // Starts a publish and calls `strike` once its COPY of the
  // recommendations is under way; returns the run's result.
  CommandResult publish_and_strike(PgServer& pg, const std::function<void(PGconn*, int)>& strike) {
    const fs::path out = dir_ / "out", err = dir_ / "err";
    const int pid =
        spawn("'" + pipeline_binary().string() + "' score -q --config " + quoted(config_) + " " +
                  serve_postgres(serve_) + " --set score.top_n=200",
              out, err);
    PGconn* c = PQconnectdb(pg.conninfo().c_str());
    EXPECT_EQ(PQstatus(c), CONNECTION_OK);
    int backend = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (backend == 0 && std::chrono::steady_clock::now() < deadline) {
      PGresult* r = PQexec(c,
                           "SELECT pid FROM pg_stat_activity WHERE query LIKE "
                           "'COPY recs_store.rec_lists_g%' AND pid <> pg_backend_pid()");
      if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
        backend = std::stoi(PQgetvalue(r, 0, 0));
      PQclear(r);
      if (backend == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    EXPECT_NE(backend, 0) << "the publish's COPY was never seen";
    strike(c, backend);
    PQfinish(c);
    CommandResult result;
    result.exit_code = wait_exit(pid);
    result.out = read_file(out);
    result.err = read_file(err);
    return result;
  }

  TempDir dir_;
  fs::path config_;
  std::string serve_;
  std::string live_;
};

TEST_F(PostgresFaults, ServerNotThere) {
  PgServer pg;
  publish_first(pg);
  pg.stop();
  CommandResult r =
      run_pipeline("score -q --config " + quoted(config_) + " " + serve_postgres(serve_));
  expect_failed(r, server_name(pg), "No such file or directory");
  pg.start();
  EXPECT_EQ(live_set(serve_), live_);
  expect_next_run_succeeds(serve_);
}

TEST_F(PostgresFaults, ConnectionDroppedDuringCopy) {
  PgServer pg;
  publish_first(pg, 1500);
  CommandResult r = publish_and_strike(pg, [](PGconn* c, int backend) {
    PQclear(PQexec(c, ("SELECT pg_terminate_backend(" + std::to_string(backend) + ")").c_str()));
  });
  expect_failed(r, server_name(pg), "terminat");
  EXPECT_EQ(live_set(serve_), live_);
  expect_next_run_succeeds(serve_);
  // The abandoned generation is gone with the next publish.
  EXPECT_EQ(pg.psql("SELECT string_agg(state, ' ' ORDER BY generation) FROM "
                    "recs_store.generations"),
            "previous live\n");
}

TEST_F(PostgresFaults, ServerRestartedMidPublish) {
  PgServer pg;
  publish_first(pg, 1500);
  CommandResult r = publish_and_strike(pg, [&](PGconn*, int) {
    pg.stop(true);  // immediate: a crash
    pg.start();     // crash recovery
  });
  // The COPY's connection is gone, or the server was still starting up.
  const std::string message = last_log_line(r.err).message;
  EXPECT_TRUE(message.find("terminat") != std::string::npos ||
              message.find("server closed the connection") != std::string::npos ||
              message.find("no connection to the server") != std::string::npos ||
              message.find("shutting down") != std::string::npos)
      << message;
  expect_failed(r, server_name(pg), "");
  EXPECT_EQ(live_set(serve_), live_);
  expect_next_run_succeeds(serve_);
}

TEST_F(PostgresFaults, DiskFull) {
  ASSERT_EQ(::geteuid(), 0u) << "mounting the small tablespace needs root (as CI runs the suite)";
  PgServer pg;
  publish_first(pg, 600);
  // New tables go to a 256 KiB tmpfs, too small for a generation.
  const fs::path ts = pg.dir() / "small";
  fs::create_directories(ts);
  ASSERT_EQ(run_command("mount -t tmpfs -o size=256k,mode=0700 tmpfs '" + ts.string() +
                        "' && chown postgres: '" + ts.string() + "'")
                .exit_code,
            0);
  struct Unmount {
    PgServer& pg;
    fs::path at;
    ~Unmount() {
      if (pg.running()) pg.stop();
      run_command("umount -l '" + at.string() + "'");
    }
  } unmount{pg, ts};
  pg.psql("CREATE TABLESPACE small LOCATION '" + ts.string() + "'");
  pg.psql("ALTER DATABASE recs SET default_tablespace = small");
  CommandResult r =
      run_pipeline("score -q --config " + quoted(config_) + " " + serve_postgres(serve_));
  expect_failed(r, server_name(pg), "No space left on device");
  EXPECT_EQ(live_set(serve_), live_);
  // The operator makes room; the next run succeeds and drops what the
  // failed one left in the full tablespace.
  pg.psql("ALTER DATABASE recs RESET default_tablespace");
  expect_next_run_succeeds(serve_);
  pg.psql("DROP TABLESPACE small");
}

TEST_F(PostgresFaults, WrongPassword) {
  PgServer::Options tcp_server;
  tcp_server.tcp = true;
  PgServer pg(tcp_server);
  pg.psql("CREATE ROLE writer LOGIN PASSWORD 'right-pw-123'; ALTER DATABASE recs OWNER TO writer",
          "postgres");
  const std::string tcp = pg.tcp_conninfo("writer");
  // The password from .pgpass, as the README says.
  const fs::path pgpass = dir_ / "pgpass";
  write_file(pgpass, "127.0.0.1:" + std::to_string(pg.port()) + ":recs:writer:right-pw-123\n");
  ::chmod(pgpass.c_str(), 0600);
  const std::string env = "PGPASSFILE='" + pgpass.string() + "'";
  config_ = make_dataset(dir_, 200, 300, 8000);
  CommandResult r =
      run_pipeline_env(env, "run -q --config " + quoted(config_) + " " + serve_postgres(tcp));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  live_ = live_set(tcp + " password=right-pw-123");
  ASSERT_EQ(live_.rfind("1 ", 0), 0u) << live_;

  const std::string server = "PostgreSQL 127.0.0.1:" + std::to_string(pg.port()) + "/recs";
  r = run_pipeline("score -q --config " + quoted(config_) + " " +
                   serve_postgres(tcp + " password=wrong-pw-456"));
  expect_failed(r, server, "password authentication failed for user \"writer\"", "wrong-pw-456");
  // From the environment.
  r = run_pipeline_env("PGPASSWORD=wrong-pw-789",
                       "score -q --config " + quoted(config_) + " " + serve_postgres(tcp));
  expect_failed(r, server, "password authentication failed", "wrong-pw-789");
  EXPECT_EQ(live_set(tcp + " password=right-pw-123"), live_);
  expect_next_run_succeeds(tcp, env, tcp + " password=right-pw-123");
}

}  // namespace
}  // namespace recs::test
