// "Because you rated X" end to end on MovieLens small: after a run every
// recommendation names a movie the user rated, for every model type, and
// the web app can read it with its title.
#include <gtest/gtest.h>

#include "models/registry.h"
#include "test_util.h"

namespace recs::test {
namespace {

std::filesystem::path small_config(const TempDir& dir) {
  auto data = shared_data();
  auto config = dir / "small.yaml";
  write_file(config, "database: recs.db\nimport:\n  ratings: " + (data / "ratings.csv").string() +
                         "\n  movies: " + (data / "movies.csv").string() +
                         "\nscore:\n  top_n: 10\n");
  return config;
}

// Rows whose because_movie_id is missing, not rated by the user, or the
// recommended movie itself; then whether every user with rows has all 10,
// and how many users have rows.
std::string unexplained(const std::filesystem::path& db) {
  return sqlite(db,
                "SELECT count(*) FROM recommendations r WHERE because_movie_id IS NULL "
                "OR because_movie_id = movie_id OR NOT EXISTS (SELECT 1 FROM ratings x "
                "WHERE x.user_id = r.user_id AND x.movie_id = r.because_movie_id);"
                "SELECT count(*) = 10 * count(DISTINCT user_id), count(DISTINCT user_id) "
                "FROM recommendations;");
}

TEST(ExplainE2E, EveryRecommendationOfEveryModelTypeNamesAMovieTheUserRated) {
  TempDir dir;
  const auto config = small_config(dir);
  for (const std::string& type : model_type_names()) {
    SCOPED_TRACE(type);
    auto r = run_pipeline("run --config " + quoted(config) + " --set model.type=" + type +
                          " --set model.epochs=1 --set gate.enabled=false");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // Every user but those without signal (user 442 for the implicit models).
    const std::string got = unexplained(dir / "recs.db");
    EXPECT_TRUE(got == "0\n1|610\n" || got == "0\n1|609\n") << got;
  }
  // The web app's join: the supporting movie's title for each row.
  EXPECT_EQ(sqlite(dir / "recs.db",
                   "SELECT count(*), count(b.title) FROM recommendations r "
                   "LEFT JOIN movies b ON b.movie_id = r.because_movie_id WHERE r.user_id = 1;"),
            "10|10\n");
  EXPECT_EQ(sqlite(dir / "recs.db",
                   "SELECT json_extract(timings, '$.explain') >= 0 FROM runs "
                   "ORDER BY run_id DESC LIMIT 1;"),
            "1\n");
}

TEST(ExplainE2E, TurnedOffLeavesItNull) {
  TempDir dir;
  const auto config = small_config(dir);
  auto r = run_pipeline("run --config " + quoted(config) + " --set score.explain=false");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(sqlite(dir / "recs.db",
                   "SELECT count(*), count(because_movie_id) FROM recommendations;"
                   "SELECT json_extract(timings, '$.explain') IS NULL FROM runs;"),
            "6100|0\n1\n");
}

}  // namespace
}  // namespace recs::test
