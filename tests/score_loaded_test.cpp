// The score stage on ratings an earlier stage of the same run loaded: it
// publishes what it publishes from its own read, and hands the loaded ratings
// back (release) once its audience is built, before scoring and publishing.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "app/score.h"
#include "app/train.h"
#include "config/config.h"
#include "db/database.h"
#include "db/runs.h"
#include "test_util.h"

namespace recs {
namespace {

using test::quoted;
using test::run_pipeline;
using test::TempDir;

const char* kLists =
    "SELECT count(*), sum(movie_id * rank), round(sum(score), 4) FROM recommendations";

TEST(ScoreLoaded, ReleasesTheLoadedRatingsOnceAndPublishesTheSameLists) {
  TempDir dir;
  const auto config_path =
      test::make_dataset(dir, 300, 200, 9000, "model: {type: als, factors: 8, epochs: 3}\n");
  ASSERT_EQ(run_pipeline("import -q --config " + quoted(config_path)).exit_code, 0);
  ASSERT_EQ(run_pipeline("train -q --config " + quoted(config_path)).exit_code, 0);
  auto r = run_pipeline("score -q --config " + quoted(config_path));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string want = test::sqlite_readonly(dir / "recs.db", kLists);

  const Config config = load_config(config_path, {});
  auto db = db::open(config.database);
  std::vector<double> raw;
  RatingMatrix ratings = load_ratings(*db, config, &raw);
  int released = 0;
  bool complete_when_released = false;
  const std::size_t n = ratings.size();
  const LoadedRatings loaded{&ratings, &raw, [&] {
                               ++released;
                               complete_when_released = ratings.size() == n && raw.size() == n;
                               ratings = RatingMatrix{};
                               raw = {};
                             }};
  {
    db::RunRecord run(*db, "score", "");
    run_score(*db, config, run, std::nullopt, &loaded);
    run.succeed();
  }
  EXPECT_EQ(released, 1);
  EXPECT_TRUE(complete_when_released);
  EXPECT_EQ(test::sqlite_readonly(dir / "recs.db", kLists), want);
}

}  // namespace
}  // namespace recs
