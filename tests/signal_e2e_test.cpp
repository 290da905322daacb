// End to end on MovieLens small with als's defaults: a user whose vector
// carries no signal gets no rows (the web app then serves sql/fallback.sql),
// every other user keeps the full top-N.
#include <gtest/gtest.h>

#include "test_util.h"

namespace recs::test {
namespace {

TEST(NoSignalE2E, AUserWithOnlyLowRatingsGetsNoAlsRows) {
  TempDir dir;
  const auto data = shared_data();
  const auto config = dir / "als.yaml";
  write_file(config, "database: recs.db\nimport:\n  ratings: " + (data / "ratings.csv").string() +
                         "\n  movies: " + (data / "movies.csv").string() +
                         "\nmodel:\n  type: als\nscore:\n  top_n: 20\n");
  const auto r = run_pipeline("run --config " + quoted(config));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto db = dir / "recs.db";

  // User 442: 20 ratings, none above 2.5, so no positive for als (>= 3.5).
  ASSERT_EQ(sqlite(db, "SELECT count(*), max(rating) FROM ratings WHERE user_id = 442;"),
            "20|2.5\n");
  EXPECT_EQ(sqlite(db, "SELECT count(*) FROM recommendations WHERE user_id = 442;"), "0\n");
  // The users dropped are exactly those without a rating >= 3.5, and the
  // run records how many.
  const std::string without = sqlite(db,
                                     "SELECT count(*) FROM (SELECT user_id FROM ratings "
                                     "GROUP BY user_id HAVING max(rating) < 3.5);");
  EXPECT_NE(without, "0\n");
  EXPECT_EQ(sqlite(db,
                   "SELECT json_extract(counts, '$.users_without_signal') FROM runs "
                   "WHERE command = 'run';"),
            without);
  EXPECT_EQ(sqlite(db,
                   "SELECT count(*) FROM (SELECT user_id FROM ratings GROUP BY user_id "
                   "HAVING max(rating) < 3.5) WHERE user_id IN "
                   "(SELECT user_id FROM recommendations);"),
            "0\n");
  EXPECT_NE(r.err.find("the web app serves them the fallback"), std::string::npos) << r.err;
  // Everyone else keeps the full top-20, ranks 1..20, scores well above the floor.
  EXPECT_EQ(sqlite(db, "SELECT count(DISTINCT user_id) + (" +
                           without.substr(0, without.size() - 1) + ") FROM recommendations;"),
            "610\n");
  EXPECT_EQ(sqlite(db,
                   "SELECT count(*) FROM (SELECT user_id FROM recommendations GROUP BY "
                   "user_id HAVING count(*) != 20 OR sum(rank) != 210 OR max(score) < 1e-6);"),
            "0\n");
}

}  // namespace
}  // namespace recs::test
