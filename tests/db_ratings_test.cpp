// The ratings repository: the parallel read by user-id ranges must give
// exactly what one scan gives, in every form built on it.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <random>
#include <vector>

#include "db/catalog.h"
#include "db/database.h"
#include "db/import.h"
#include "db/ratings.h"
#include "db/sqlite.h"
#include "test_util.h"
#include "util/error.h"

namespace recs {
namespace {

// import.rating_map's role: stored rating -> trained value.
db::ValueMap map_of(std::map<double, double> m) {
  return [m = std::move(m)](double stored, const std::string& where) {
    auto it = m.find(stored);
    if (it == m.end()) throw InputError(where + ": unmapped");
    return static_cast<float>(it->second);
  };
}

db::ValueMap identity() {
  return [](double stored, const std::string&) { return static_cast<float>(stored); };
}

// Users with sparse, unevenly spread ids (a few far apart, so some id ranges
// are empty and others hold most rows), ratings in 0.5 steps.
void fill(SQLite::Database& db, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> movie(1, 400);
  std::uniform_int_distribution<int> stars(1, 10);
  std::vector<std::int64_t> users;
  for (int i = 1; i <= 300; ++i) users.push_back(i * 7);
  users.push_back(1'000'000);
  users.push_back(std::int64_t{1} << 40);
  SQLite::Transaction tx(db);
  SQLite::Statement ins(db, "INSERT OR IGNORE INTO ratings VALUES (?, ?, ?, ?)");
  for (std::int64_t u : users) {
    for (int k = 0; k < 40; ++k) {
      ins.bind(1, u);
      ins.bind(2, movie(rng) * 13);
      ins.bind(3, stars(rng) / 2.0);
      ins.bind(4, static_cast<std::int64_t>(rng() % 1'000'000'000));
      ins.exec();
      ins.reset();
    }
  }
  tx.commit();
}

void expect_equal(const RatingMatrix& a, const RatingMatrix& b) {
  EXPECT_EQ(a.user_ids, b.user_ids);
  EXPECT_EQ(a.movie_ids, b.movie_ids);
  EXPECT_EQ(a.user, b.user);
  EXPECT_EQ(a.movie, b.movie);
  EXPECT_EQ(a.value, b.value);
}

TEST(DbRatings, ParallelRangesEqualOneScan) {
  test::TempDir dir;
  auto db = db::open(dir / "recs.db");
  fill(*db, 1);
  const db::ValueMap map = map_of({{0.5, -1},
                                   {1, -1},
                                   {1.5, -1},
                                   {2, -1},
                                   {2.5, -1},
                                   {3, 0},
                                   {3.5, 1},
                                   {4, 1},
                                   {4.5, 1},
                                   {5, 1}});
  auto ratings = db::sqlite_ratings(*db);
  std::vector<double> raw_serial, raw_parallel;
  std::vector<std::int64_t> at_serial, at_parallel;
  const RatingMatrix serial = db::read_rating_matrix(*ratings, map, &raw_serial, &at_serial, false);
  const RatingMatrix parallel =
      db::read_rating_matrix(*ratings, map, &raw_parallel, &at_parallel, true);
  ASSERT_GT(serial.size(), 10'000u);
  expect_equal(serial, parallel);
  EXPECT_EQ(raw_serial, raw_parallel);
  EXPECT_EQ(at_serial, at_parallel);
  // Key order, dense indices, the map applied.
  for (std::size_t i = 1; i < serial.size(); ++i) {
    ASSERT_TRUE(serial.user[i - 1] < serial.user[i] ||
                (serial.user[i - 1] == serial.user[i] && serial.movie[i - 1] < serial.movie[i]));
  }
  EXPECT_EQ(serial.user_ids.back(), std::int64_t{1} << 40);
  for (std::size_t i = 0; i < serial.size(); ++i) {
    ASSERT_EQ(serial.value[i], raw_serial[i] >= 3.5 ? 1.0f : raw_serial[i] >= 3 ? 0.0f : -1.0f);
  }
}

TEST(DbRatings, StoredRowsAsTheTableHoldsThemParallelOrNot) {
  test::TempDir dir;
  auto db = db::open(dir / "recs.db");
  auto ratings = db::sqlite_ratings(*db);
  EXPECT_EQ(db::read_stored_ratings(*ratings).size(), 0u);
  fill(*db, 3);
  const db::StoredRatings parallel = db::read_stored_ratings(*ratings, true);
  const db::StoredRatings serial = db::read_stored_ratings(*ratings, false);
  EXPECT_EQ(parallel.user_ids, serial.user_ids);
  EXPECT_EQ(parallel.user, serial.user);
  EXPECT_EQ(parallel.movie, serial.movie);
  EXPECT_EQ(parallel.rating, serial.rating);
  EXPECT_EQ(parallel.rated_at, serial.rated_at);
  SQLite::Statement q(*db,
                      "SELECT user_id, movie_id, rating, rated_at FROM ratings "
                      "ORDER BY user_id, movie_id");
  std::size_t i = 0;
  while (q.executeStep()) {
    ASSERT_LT(i, parallel.size());
    EXPECT_EQ(parallel.user_id(i), q.getColumn(0).getInt64());
    EXPECT_EQ(parallel.movie[i], q.getColumn(1).getInt64());
    EXPECT_EQ(parallel.rating[i], q.getColumn(2).getDouble());
    EXPECT_EQ(parallel.rated_at[i], q.getColumn(3).getInt64());
    ++i;
  }
  EXPECT_EQ(i, parallel.size());
}

// What a shard knows of the ratings it does not hold: the users and the
// count of every value, ascending, as GROUP BY would give them.
TEST(DbRatings, TheCensusCountsEveryValueAndUserOnce) {
  test::TempDir dir;
  auto db = db::open(dir / "recs.db");
  auto ratings = db::sqlite_ratings(*db);
  const auto none = ratings->census();
  EXPECT_EQ(none.users, 0);
  EXPECT_TRUE(none.counts.empty());
  fill(*db, 5);
  const auto c = ratings->census();
  EXPECT_EQ(c.users, db->execAndGet("SELECT count(DISTINCT user_id) FROM ratings").getInt64());
  std::vector<std::pair<double, std::int64_t>> expected;
  SQLite::Statement q(*db, "SELECT rating, count(*) FROM ratings GROUP BY rating ORDER BY rating");
  while (q.executeStep())
    expected.emplace_back(q.getColumn(0).getDouble(), q.getColumn(1).getInt64());
  ASSERT_EQ(expected.size(), 10u);
  EXPECT_EQ(c.counts, expected);
}

TEST(DbRatings, RowsReadAheadAreReadAgainOnlyAfterAnotherConnectionCommits) {
  test::TempDir dir;
  auto db = db::open(dir / "recs.db");
  fill(*db, 4);
  auto ratings = db::sqlite_ratings(*db);
  const std::size_t before = db::read_stored_ratings(*ratings).size();
  {
    db::StoredRatingsAhead ahead(*ratings);
    SQLite::Transaction tx(*db, SQLite::TransactionBehavior::IMMEDIATE);
    EXPECT_EQ(ahead.current().size(), before);
    EXPECT_FALSE(ahead.read_again());
  }
  db::StoredRatingsAhead ahead(*ratings);
  {
    auto other = db::open(dir / "recs.db");
    other->exec("INSERT INTO ratings VALUES (5, 5, 4.0, 0)");
  }
  SQLite::Transaction tx(*db, SQLite::TransactionBehavior::IMMEDIATE);
  EXPECT_EQ(ahead.current().size(), before + 1);
  EXPECT_TRUE(ahead.read_again());
}

TEST(DbRatings, InsideATransactionReadsThisConnectionsRows) {
  // Other connections cannot see uncommitted rows: the read must fall back
  // to this connection and still return them.
  test::TempDir dir;
  auto db = db::open(dir / "recs.db");
  fill(*db, 2);
  auto ratings = db::sqlite_ratings(*db);
  const auto committed = db::read_rating_matrix(*ratings, identity()).size();
  SQLite::Transaction tx(*db);
  db->exec("INSERT INTO ratings VALUES (5, 5, 4.0, 0)");
  EXPECT_EQ(db::read_rating_matrix(*ratings, identity()).size(), committed + 1);
}

TEST(DbRatings, OnlyTheRequestedColumnsAreFilled) {
  test::TempDir dir;
  auto db = db::open(dir / "recs.db");
  fill(*db, 5);
  const db::StoredRatings ids = db::sqlite_ratings(*db)->read({});
  ASSERT_GT(ids.size(), 0u);
  EXPECT_EQ(ids.movie.size(), ids.size());
  EXPECT_TRUE(ids.value.empty());
  EXPECT_TRUE(ids.rating.empty());
  EXPECT_TRUE(ids.rated_at.empty());
}

TEST(DbRatings, AnEmptyTableIsNoRatingsAndAnUnmappedValueNamesTheTable) {
  test::TempDir dir;
  auto db = db::open(dir / "recs.db");
  auto ratings = db::sqlite_ratings(*db);
  EXPECT_THROW(db::read_rating_matrix(*ratings, identity()), NotFoundError);
  db->exec("INSERT INTO ratings VALUES (1, 2, 4.0, 0)");
  try {
    db::read_rating_matrix(*ratings, map_of({{5, 1}}));
    FAIL() << "an unmapped rating must throw";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), (dir / "recs.db").string() + ": table ratings: unmapped");
  }
}

TEST(DbRatings, WhatTheImportWritesReadsBackAndRollsBackUnlessCommitted) {
  test::TempDir dir;
  auto db = db::open(dir / "recs.db");
  auto ratings = db::sqlite_ratings(*db);
  auto catalog = db::sqlite_catalog(*db);
  {
    auto out = db::sqlite_import(*db);
    out->clear_movies();
    for (int m = 1; m <= 250; ++m) out->add_movie(m, "t" + std::to_string(m), m % 2 ? "A|B" : "C");
    for (std::int64_t u = 1; u <= 30; ++u) {
      for (std::int64_t m = 1; m <= 10; ++m) out->insert_rating(u, m * 3, 0.5 * m, u * 100 + m);
    }
    out->replace_movie_stats({{3, 30, 0.5, 1}, {6, 30, 1.0, 2}});
    out->commit();
  }
  db::StoredRatings r = db::read_stored_ratings(*ratings);
  ASSERT_EQ(r.size(), 300u);
  EXPECT_EQ(r.user_ids.size(), 30u);
  EXPECT_EQ(r.user_id(299), 30);
  EXPECT_EQ(r.movie[299], 30);
  EXPECT_EQ(r.rating[299], 5.0);
  EXPECT_EQ(r.rated_at[299], 3010);
  EXPECT_EQ(catalog->movie_count(), 250);
  const auto genres = catalog->movie_genres();
  ASSERT_EQ(genres.size(), 250u);
  EXPECT_EQ(test::sqlite(dir / "recs.db", "SELECT * FROM movie_stats ORDER BY popularity_rank;"),
            "3|30|0.5|1|0\n6|30|1.0|2|0\n");

  {  // changes, then no commit: nothing of them stays
    auto out = db::sqlite_import(*db);
    out->clear_movies();
    out->update_rating(1, 3, 4.0, 7);
    out->delete_rating(2, 3);
    out->insert_rating(31, 1, 1.0, 1);
    out->replace_movie_stats({});
  }
  EXPECT_EQ(db::read_stored_ratings(*ratings).rating, r.rating);
  EXPECT_EQ(catalog->movie_count(), 250);

  {
    auto out = db::sqlite_import(*db);
    out->update_rating(1, 3, 4.0, 7);
    out->delete_rating(2, 3);
    out->insert_rating(31, 1, 1.0, 1);
    out->commit();
  }
  r = db::read_stored_ratings(*ratings);
  ASSERT_EQ(r.size(), 300u);
  EXPECT_EQ(r.rating[0], 4.0);
  EXPECT_EQ(r.rated_at[0], 7);
  EXPECT_EQ(r.user_id(10), 2);
  EXPECT_EQ(r.movie[10], 6);
  EXPECT_EQ(r.user_id(299), 31);
  EXPECT_EQ(catalog->movie_count(), 250);  // the catalog is left as it was
}

TEST(DbRatings, AnImportWhileAnotherWriterHoldsTheDatabaseFailsAsADatabaseError) {
  test::TempDir dir;
  auto db = db::open(dir / "recs.db");
  auto other = db::open(dir / "recs.db");
  other->setBusyTimeout(0);
  db->setBusyTimeout(0);
  SQLite::Transaction holder(*other, SQLite::TransactionBehavior::IMMEDIATE);
  try {
    db::sqlite_import(*db);
    FAIL() << "the write lock is held";
  } catch (const DatabaseError& e) {
    EXPECT_NE(std::string(e.what()).find(": import failed, the database is unchanged: "),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace recs
