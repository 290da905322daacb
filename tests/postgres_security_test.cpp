// Security of the PostgreSQL serving side: serve.reader_role gets SELECT on
// what the web app reads and nothing else (it cannot write anywhere), and a
// password in serve.postgres never reaches the logs, `pipeline config` or
// the run history (it is shown as ***).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/conninfo.h"
#include "pg_server.h"
#include "test_util.h"

namespace recs::test {
namespace {
namespace fs = std::filesystem;

TEST(ConnInfo, PasswordsAreRedactedInBothForms) {
  EXPECT_EQ(redact_conninfo("host=db port=5432 dbname=recs"), "host=db port=5432 dbname=recs");
  EXPECT_EQ(redact_conninfo("host=db password=s3cret dbname=recs"),
            "host=db password=*** dbname=recs");
  EXPECT_EQ(redact_conninfo("password = 'a b\\' c' user=x"), "password = *** user=x");
  EXPECT_EQ(redact_conninfo("postgresql://app:s3cret@db:5432/recs?sslmode=require"),
            "postgresql://app:***@db:5432/recs?sslmode=require");
  EXPECT_EQ(redact_conninfo("postgres://app@db/recs?password=s3cret&sslmode=require"),
            "postgres://app@db/recs?password=***&sslmode=require");
  EXPECT_EQ(redact_conninfo("postgresql://db/recs"), "postgresql://db/recs");
  // libpq reads a backslash-escaped blank as part of an unquoted value.
  EXPECT_EQ(redact_conninfo("user=x password=open\\ sesame dbname=recs"),
            "user=x password=*** dbname=recs");
  EXPECT_EQ(redact_conninfo("password=a\\\\ dbname=recs"), "password=*** dbname=recs");
  // The client key's passphrase is a secret too.
  EXPECT_EQ(redact_conninfo("sslkey=k.pem sslpassword=keysecret"), "sslkey=k.pem sslpassword=***");
  EXPECT_EQ(redact_conninfo("postgresql://db/recs?sslpassword=keysecret&sslmode=require"),
            "postgresql://db/recs?sslpassword=***&sslmode=require");
}

TEST(PostgresSecurity, ReaderRoleCanReadTheWebAppsViewsAndWriteNothing) {
  PgServer pg;
  pg.psql("CREATE ROLE webapp LOGIN");
  TempDir dir;
  const fs::path config = make_dataset(dir, 60, 80, 2000);
  CommandResult r = run_pipeline("run -q --config " + quoted(config) + " " +
                                 serve_postgres(pg.conninfo()) + " --set serve.reader_role=webapp");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string as_webapp = "host=" + pg.socket_dir().string() +
                                " port=" + std::to_string(pg.port()) + " user=webapp dbname=recs";
  // What the web app reads.
  for (const char* view :
       {"recommendations", "similar_movies", "user_clusters", "movie_clusters", "cluster_popular",
        "movies", "movie_stats", "rated_movies", "publication"}) {
    CommandResult q = psql_command(as_webapp, std::string("SELECT count(*) FROM recs.") + view);
    EXPECT_EQ(q.exit_code, 0) << view << ": " << q.err;
    EXPECT_NE(q.out, "0\n") << view;
  }
  EXPECT_NE(
      psql_query_file(as_webapp, source_dir() / "sql/postgres/login.sql", {"user_id=1", "limit=3"}),
      "");
  // Nothing else: no write, no DDL, no look at the store.
  for (const char* sql : {
           "INSERT INTO recs.recommendations (user_id, rank, movie_id, score) VALUES (1, 1, 1, 1)",
           "DELETE FROM recs.movies",
           "UPDATE recs.movie_stats SET rating_count = 0",
           "SELECT count(*) FROM recs_store.rec_lists",
           "UPDATE recs_store.serving SET live = NULL",
           "INSERT INTO recs_store.rec_lists_g1 (generation, part, user_id, movie_ids, scores) "
           "VALUES (1, 0, 1, '{1}', '{1}')",
           "TRUNCATE recs_store.rec_lists_g1",
           "CREATE TABLE recs.mine (a int)",
           "CREATE VIEW recs.mine AS SELECT 1",
           "CREATE TABLE public.mine (a int)",
           "DROP VIEW recs.recommendations",
       }) {
    CommandResult q = psql_command(as_webapp, sql);
    EXPECT_NE(q.exit_code, 0) << "the reader role could run: " << sql;
    const bool refused = q.err.find("permission denied") != std::string::npos ||
                         q.err.find("must be owner") != std::string::npos ||
                         q.err.find("cannot insert into view") != std::string::npos;
    EXPECT_TRUE(refused) << sql << ": " << q.err;
  }
  // A function of the reader's own (pg_temp) in a WHERE clause runs after
  // the views' live-generation condition (security barriers): it sees the
  // live generation's row of recs_store.generations, not the others.
  ASSERT_EQ(run_pipeline("score -q --config " + quoted(config) + " " +
                         serve_postgres(pg.conninfo()) + " --set serve.reader_role=webapp")
                .exit_code,
            0);
  CommandResult peek = psql_command(
      as_webapp,
      "CREATE FUNCTION pg_temp.peek(g bigint) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS "
      "$$ BEGIN RAISE NOTICE 'peek saw generation %', g; RETURN true; END $$; "
      "SELECT generation FROM recs.publication WHERE pg_temp.peek(generation);");
  EXPECT_EQ(peek.exit_code, 0) << peek.err;
  EXPECT_NE(peek.err.find("peek saw generation 2"), std::string::npos) << peek.err;
  EXPECT_EQ(peek.err.find("peek saw generation 1"), std::string::npos) << peek.err;
  // Its grants, as the server lists them: SELECT on schema recs' views only.
  const std::string grants = pg.psql(
      "SELECT DISTINCT table_schema || ' ' || privilege_type FROM "
      "information_schema.role_table_grants WHERE grantee = 'webapp'");
  EXPECT_EQ(grants, "recs SELECT\n");
  EXPECT_EQ(psql_command(pg.conninfo(), "SELECT count(*) FROM recs_store.rec_lists_g1").exit_code,
            0);

  // A role that does not exist: a database error naming it, nothing published.
  r = run_pipeline("score -q --config " + quoted(config) + " " + serve_postgres(pg.conninfo()) +
                   " --set serve.reader_role=nobody_here");
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_NE(last_log_line(r.err).message.find("serve.reader_role 'nobody_here'"), std::string::npos)
      << r.err;
  EXPECT_EQ(pg.psql("SELECT generation FROM recs.publication"), "2\n");
}

TEST(PostgresSecurity, PasswordNeverReachesLogsConfigOrRunHistory) {
  PgServer pg;
  TempDir dir;
  const fs::path config = make_dataset(dir, 60, 80, 2000);
  // The socket trusts, so the password is not needed, only carried.
  const std::string secret = "hunter2-s3cret";
  const std::string pairs = pg.conninfo() + " password=" + secret;
  CommandResult r = run_pipeline("run --config " + quoted(config) + " " + serve_postgres(pairs));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find(secret), std::string::npos) << r.err;
  // The URI form.
  const std::string uri = "postgresql://postgres:" + secret +
                          "@/recs?host=" + pg.socket_dir().string() +
                          "&port=" + std::to_string(pg.port());
  r = run_pipeline("score --config " + quoted(config) + " " + serve_postgres(uri));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find(secret), std::string::npos) << r.err;
  r = run_pipeline("config --config " + quoted(config) + " " + serve_postgres(pairs));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find(secret), std::string::npos);
  EXPECT_NE(r.out.find("password=***"), std::string::npos) << r.out;
  // A failure: the server is gone.
  pg.stop();
  r = run_pipeline("score --config " + quoted(config) + " " + serve_postgres(pairs));
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_EQ(r.err.find(secret), std::string::npos) << r.err;
  const fs::path db = dir / "recs.db";
  EXPECT_EQ(sqlite_readonly(db, "SELECT count(*) FROM runs WHERE instr(config, '" + secret +
                                    "') > 0 OR instr(coalesce(message, ''), '" + secret +
                                    "') > 0 OR instr(summary, '" + secret + "') > 0"),
            "0\n");
  EXPECT_EQ(sqlite_readonly(db,
                            "SELECT count(*) FROM runs WHERE instr(config, 'password=***') > "
                            "0 OR instr(config, 'postgres:***@') > 0"),
            "3\n");
}

}  // namespace
}  // namespace recs::test
