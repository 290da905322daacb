// The generations API (db/serving.h) on a private server, as sharded
// scoring uses it: a generation staged in parts, a part staged again
// replacing only itself, nothing visible until make_live(), the previous
// generation restored, and a generation that is not staging refused.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "db/database.h"
#include "db/postgres.h"
#include "pg_server.h"
#include "test_util.h"
#include "util/error.h"

namespace recs::test {
namespace {

// Users [first, first + n) with `top_n` movies each: user u's k-th is
// movie index (u + k + base) mod 50.
TopNBlock block(int first, int n, int top_n, int base) {
  TopNBlock b;
  b.user_begin = first;
  b.user_end = first + n;
  b.top_n = top_n;
  b.counts.assign(static_cast<std::size_t>(n), top_n);
  for (int u = 0; u < n; ++u) {
    for (int k = 0; k < top_n; ++k) {
      b.items.push_back((u + k + base) % 50);
      b.scores.push_back(1.0f - 0.01f * static_cast<float>(k));
    }
  }
  return b;
}

TEST(PostgresGenerations, StagedInPartsRestagedPartReplacesItselfLiveAtOnce) {
  PgServer pg;
  TempDir dir;
  const auto sqlite = db::open(dir / "recs.db");  // an empty catalog
  std::vector<std::int64_t> users, movies;
  for (int i = 0; i < 100; ++i) users.push_back(1000 + i);
  for (int i = 0; i < 50; ++i) movies.push_back(10 * i + 1);

  const auto gens = db::postgres_generations({pg.conninfo(), "", 30});
  EXPECT_EQ(gens->live(), std::nullopt);
  const std::int64_t g = gens->create(7, std::nullopt);
  gens->stage_catalog(g, *sqlite);
  // Two shards: users 0-59 and 60-99; the first is staged twice, the
  // second time with another top-N, which must replace it.
  auto stage = [&](int part, int first, int n, int top_n, int base) {
    auto w = gens->stage_part(g, part);
    EXPECT_TRUE(w->add(block(first, n, top_n, base), users, movies, {}));
    w->commit();
  };
  stage(0, 0, 60, 5, 0);
  stage(1, 60, 40, 5, 3);
  stage(0, 0, 60, 4, 1);
  // A part abandoned mid-way leaves what it had.
  {
    auto w = gens->stage_part(g, 1);
    w->add(block(60, 40, 9, 0), users, movies, {});
  }
  EXPECT_EQ(pg.psql("SELECT count(*) FROM recs.recommendations"), "0\n");  // not live yet

  const db::LiveSwitch s = gens->make_live(g, 42, 5, {});
  EXPECT_EQ(s.generation, g);
  EXPECT_EQ(s.previous, std::nullopt);
  EXPECT_EQ(s.users, 100);
  EXPECT_EQ(s.rows, 60 * 4 + 40 * 5);
  EXPECT_EQ(pg.psql("SELECT count(*), count(DISTINCT user_id), min(user_id), max(user_id) FROM "
                    "recs.recommendations"),
            "440|100|1000|1099\n");
  EXPECT_EQ(pg.psql("SELECT max(rank) FROM recs.recommendations WHERE user_id < 1060"), "4\n");
  EXPECT_EQ(pg.psql("SELECT string_agg(movie_id::text, ',' ORDER BY rank) FROM "
                    "recs.recommendations WHERE user_id = 1000"),
            "11,21,31,41\n");
  EXPECT_EQ(pg.psql("SELECT run_id, model_id, row_count FROM recs.publication"), "42|7|440\n");

  // Staging a live generation again, or making it live twice, is refused.
  EXPECT_THROW(gens->stage_part(g, 0), NotFoundError);
  EXPECT_THROW(gens->make_live(g, 43, 5, {}), NotFoundError);
  // No previous generation yet.
  EXPECT_THROW(gens->restore(), NotFoundError);

  // A second generation, then back to the first.
  const std::int64_t g2 = gens->create(8, std::nullopt);
  {
    auto w = gens->stage_part(g2, 0);
    w->add(block(0, 100, 1, 0), users, movies, {});
    w->commit();
  }
  EXPECT_EQ(gens->make_live(g2, 44, 5, {}).previous, g);
  EXPECT_EQ(pg.psql("SELECT count(*) FROM recs.recommendations"), "100\n");
  const db::LiveSwitch back = gens->restore();
  EXPECT_EQ(back.generation, g);
  EXPECT_EQ(back.previous, g2);
  EXPECT_EQ(gens->live(), g);
  EXPECT_EQ(pg.psql("SELECT count(*) FROM recs.recommendations"), "440\n");
}

// A reader idle in a transaction makes dropping an old generation time out,
// leaving its partitions detach-pending; PostgreSQL then refuses to detach
// any other partition of those tables until that one is finished. After a
// rollback the pending generation is not the oldest, so the next publish
// must finish it first, or old generations pile up for good.
TEST(PostgresGenerations, ADetachLeftPendingByAnIdleReaderIsFinishedByTheNextPublish) {
  PgServer pg;
  std::vector<std::int64_t> users, movies;
  for (int i = 0; i < 100; ++i) users.push_back(1000 + i);
  for (int i = 0; i < 50; ++i) movies.push_back(10 * i + 1);
  db::PostgresOptions o{pg.conninfo(), "", 0.2, 1.0};
  const auto gens = db::postgres_generations(o);
  std::int64_t run = 0;
  auto publish = [&] {
    const std::int64_t g = gens->create(7, std::nullopt);
    auto w = gens->stage_part(g, 0);
    EXPECT_TRUE(w->add(block(0, 100, 3, static_cast<int>(g)), users, movies, {}));
    w->commit();
    gens->make_live(g, ++run, 3, {});
    return g;
  };
  const std::int64_t g1 = publish();
  const std::int64_t g2 = publish();
  gens->restore();  // live g1, previous g2
  ASSERT_EQ(gens->live(), g1);

  TempDir tmp;
  write_file(tmp / "reader.sql",
             "BEGIN;\nSELECT count(*) FROM recs.recommendations;\nSELECT pg_sleep(4);\nCOMMIT;\n");
  const int reader =
      spawn("psql -X -q '" + pg.conninfo() + "' -f " + test::quoted(tmp / "reader.sql"));
  for (int i = 0; i < 200 && pg.psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
                                     "'%pg_sleep(4)%' AND pid <> pg_backend_pid()") == "0\n";
       ++i) {
    run_command("sleep 0.02");
  }
  const std::int64_t g3 = publish();  // retires g2, whose detach times out behind the reader
  EXPECT_EQ(pg.psql("SELECT count(*) > 0 FROM pg_inherits WHERE inhdetachpending"), "t\n");
  EXPECT_EQ(wait_exit(reader), 0);

  const std::int64_t g4 = publish();  // retires g1 too: both go, g2's detach finished first
  EXPECT_EQ(pg.psql("SELECT string_agg(generation::text, ',' ORDER BY generation) FROM "
                    "recs_store.generations"),
            std::to_string(g3) + "," + std::to_string(g4) + "\n");
  EXPECT_EQ(pg.psql("SELECT count(*) FROM pg_inherits WHERE inhdetachpending"), "0\n");
  EXPECT_EQ(pg.psql("SELECT count(*) FROM pg_class WHERE relname ~ '_g(" + std::to_string(g1) +
                    "|" + std::to_string(g2) + ")$'"),
            "0\n");
  EXPECT_EQ(pg.psql("SELECT count(*) FROM recs.recommendations"), "300\n");
}

}  // namespace
}  // namespace recs::test
