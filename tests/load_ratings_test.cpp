// Reading the ratings table: the parallel read by user-id ranges must give
// exactly what one scan gives.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "app/train.h"
#include "db/database.h"
#include "test_util.h"

namespace recs {
namespace {

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

TEST(LoadRatings, ParallelRangesEqualOneScan) {
  test::TempDir dir;
  auto db = db::open(dir / "recs.db");
  fill(*db, 1);
  Config config;
  config.import.rating_map = {{0.5, -1}, {1, -1},  {1.5, -1}, {2, -1},  {2.5, -1},
                              {3, 0},    {3.5, 1}, {4, 1},    {4.5, 1}, {5, 1}};
  std::vector<double> raw_serial, raw_parallel;
  std::vector<std::int64_t> at_serial, at_parallel;
  const RatingMatrix serial = load_ratings(*db, config, &raw_serial, &at_serial, false);
  const RatingMatrix parallel = load_ratings(*db, config, &raw_parallel, &at_parallel, true);
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

TEST(LoadRatings, StoredRowsAsTheTableHoldsThemParallelOrNot) {
  test::TempDir dir;
  auto db = db::open(dir / "recs.db");
  EXPECT_EQ(read_stored_ratings(*db).size(), 0u);
  fill(*db, 3);
  const StoredRatings parallel = read_stored_ratings(*db, true);
  const StoredRatings serial = read_stored_ratings(*db, false);
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

TEST(LoadRatings, RowsReadAheadAreReadAgainOnlyAfterAnotherConnectionCommits) {
  test::TempDir dir;
  auto db = db::open(dir / "recs.db");
  fill(*db, 4);
  const std::size_t before = read_stored_ratings(*db).size();
  {
    StoredRatingsAhead ahead(*db);
    SQLite::Transaction tx(*db, SQLite::TransactionBehavior::IMMEDIATE);
    EXPECT_EQ(ahead.current().size(), before);
    EXPECT_FALSE(ahead.read_again());
  }
  StoredRatingsAhead ahead(*db);
  {
    auto other = db::open(dir / "recs.db");
    other->exec("INSERT INTO ratings VALUES (5, 5, 4.0, 0)");
  }
  SQLite::Transaction tx(*db, SQLite::TransactionBehavior::IMMEDIATE);
  EXPECT_EQ(ahead.current().size(), before + 1);
  EXPECT_TRUE(ahead.read_again());
}

TEST(LoadRatings, InsideATransactionReadsThisConnectionsRows) {
  // Other connections cannot see uncommitted rows: the read must fall back
  // to this connection and still return them.
  test::TempDir dir;
  auto db = db::open(dir / "recs.db");
  fill(*db, 2);
  const Config config;
  const auto committed = load_ratings(*db, config, nullptr, nullptr, true).size();
  SQLite::Transaction tx(*db);
  db->exec("INSERT INTO ratings VALUES (5, 5, 4.0, 0)");
  EXPECT_EQ(load_ratings(*db, config, nullptr, nullptr, true).size(), committed + 1);
}

}  // namespace
}  // namespace recs
