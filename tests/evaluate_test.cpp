// GCC 12 flags its own _mm512_undefined_ps() idiom inside Eigen's AVX-512
// kernels as maybe-uninitialised once instantiated here (a false positive).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "app/evaluate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>
#include <vector>

#include "db/database.h"
#include "eval/evaluate.h"
#include "eval/metrics.h"
#include "models/dot_model.h"
#include "models/registry.h"
#include "test_util.h"
#include "topn_fixtures.h"
#include "util/error.h"

namespace recs {
namespace {

using eval::EvalData;

// One list per user, padded to top_n with -1 past counts[u].
TopNBlock lists(const std::vector<std::vector<std::int32_t>>& items, int top_n) {
  TopNBlock b;
  b.user_begin = 0;
  b.user_end = static_cast<int>(items.size());
  b.top_n = top_n;
  for (const auto& l : items) {
    b.counts.push_back(static_cast<std::int32_t>(l.size()));
    for (int r = 0; r < top_n; ++r) {
      b.items.push_back(r < static_cast<int>(l.size()) ? l[r] : -1);
      b.scores.push_back(0.0f);
    }
  }
  return b;
}

double d(int rank) { return 1.0 / std::log2(rank + 1.0); }

TEST(RankingMetrics, HandComputedCase) {
  // User 0: hits at ranks 2 and 4 of 3 relevant. User 1: nothing relevant,
  // skipped (its items must not count towards coverage either). User 2: hit
  // at rank 1, its only relevant item. User 3: no hit.
  auto top = lists({{1, 2, 3, 4}, {5, 6, 7, 8}, {0, 1, 2, 3}, {3, 2, 5, 9}}, 4);
  auto rel = test::from_lists({{2, 4, 9}, {}, {0}, {7}});
  auto m = eval::ranking_metrics(top, rel, {2, 4}, 10);
  ASSERT_EQ(m.users_evaluated, 3);
  ASSERT_EQ(m.at.size(), 2u);

  const auto& k2 = m.at[0];
  EXPECT_EQ(k2.k, 2);
  EXPECT_NEAR(k2.precision, (0.5 + 0.5 + 0) / 3, 1e-12);
  EXPECT_NEAR(k2.recall, (1.0 / 3 + 1 + 0) / 3, 1e-12);
  EXPECT_NEAR(k2.ndcg, (d(2) / (d(1) + d(2)) + 1 + 0) / 3, 1e-12);
  EXPECT_NEAR(k2.map, ((1.0 / 2) / 2 + 1 + 0) / 3, 1e-12);
  EXPECT_NEAR(k2.hit_rate, 2.0 / 3, 1e-12);
  // Pooled: hits 1 + 1 + 0 over min(|relevant|, 2) = 2 + 1 + 1.
  EXPECT_NEAR(k2.recall_capped, 2.0 / 4, 1e-12);

  const auto& k4 = m.at[1];
  EXPECT_EQ(k4.k, 4);
  EXPECT_NEAR(k4.precision, (0.5 + 0.25 + 0) / 3, 1e-12);
  EXPECT_NEAR(k4.recall, (2.0 / 3 + 1 + 0) / 3, 1e-12);
  EXPECT_NEAR(k4.ndcg, ((d(2) + d(4)) / (d(1) + d(2) + d(3)) + 1 + 0) / 3, 1e-12);
  EXPECT_NEAR(k4.map, ((1.0 / 2 + 2.0 / 4) / 3 + 1 + 0) / 3, 1e-12);
  EXPECT_NEAR(k4.hit_rate, 2.0 / 3, 1e-12);
  // Hits 2 + 1 + 0 over min(|relevant|, 4) = 3 + 1 + 1.
  EXPECT_NEAR(k4.recall_capped, 3.0 / 5, 1e-12);

  // {1,2,3,4} u {0,1,2,3} u {3,2,5,9}: 7 of 10 movies.
  EXPECT_NEAR(m.coverage, 0.7, 1e-12);
}

TEST(RankingMetrics, CoverageAndCutoffUseOnlyTheFirstMaxKEntries) {
  // Lists longer than max(K) (the kernel may be asked for more): entries
  // past K neither hit nor count towards coverage.
  auto top = lists({{0, 1, 2, 3}}, 4);
  auto m = eval::ranking_metrics(top, test::from_lists({{3}}), {2}, 8);
  EXPECT_EQ(m.at[0].precision, 0.0);
  EXPECT_EQ(m.at[0].hit_rate, 0.0);
  EXPECT_NEAR(m.coverage, 2.0 / 8, 1e-12);
}

TEST(RankingMetrics, ShortListsStillDivideByK) {
  // Only 2 candidates were left after masking; precision@5 is hits / 5.
  auto top = lists({{4, 6}}, 5);
  auto m = eval::ranking_metrics(top, test::from_lists({{6}}), {5}, 10);
  EXPECT_NEAR(m.at[0].precision, 1.0 / 5, 1e-12);
  EXPECT_NEAR(m.at[0].recall, 1.0, 1e-12);
  EXPECT_NEAR(m.at[0].ndcg, d(2), 1e-12);
  EXPECT_NEAR(m.at[0].map, 0.5, 1e-12);
  EXPECT_NEAR(m.at[0].recall_capped, 1.0, 1e-12);
}

TEST(RankingMetrics, CappedRecallLetsAHeavyRaterReachOne) {
  // 6 relevant items, K = 2, both hits: plain recall 2/6, capped 2/2. The
  // light rater (1 relevant, missed) weighs by its min(|relevant|, K) = 1,
  // so the pooled figure is (2 + 0) / (2 + 1).
  auto top = lists({{0, 1}, {5, 6}}, 2);
  auto m = eval::ranking_metrics(top, test::from_lists({{0, 1, 2, 3, 4, 7}, {9}}), {2}, 10);
  EXPECT_NEAR(m.at[0].recall, (2.0 / 6 + 0) / 2, 1e-12);
  EXPECT_NEAR(m.at[0].recall_capped, 2.0 / 3, 1e-12);
}

TEST(RankingMetrics, NoRelevantItemsMeansNoUsersAndNaN) {
  auto m = eval::ranking_metrics(lists({{0, 1}, {1, 0}}, 2), test::from_lists({{}, {}}), {1, 2}, 3);
  EXPECT_EQ(m.users_evaluated, 0);
  EXPECT_TRUE(std::isnan(m.at[0].ndcg));
  EXPECT_TRUE(std::isnan(m.at[1].recall));
  EXPECT_TRUE(std::isnan(m.at[1].recall_capped));
  EXPECT_TRUE(std::isnan(m.coverage));
}

TEST(RankingMetrics, RejectsListsShorterThanK) {
  EXPECT_THROW(eval::ranking_metrics(lists({{0}}, 1), test::from_lists({{0}}), {2}, 3), Error);
  EXPECT_THROW(eval::ranking_metrics(lists({{0}}, 1), test::from_lists({{0}}), {}, 3), ConfigError);
}

// Appends one rating (dense user, external movie id = dense movie index).
void add(EvalData& e, int user, int movie, double raw, std::int64_t at) {
  e.ratings.user.push_back(user);
  e.ratings.movie.push_back(movie);
  e.ratings.value.push_back(static_cast<float>(raw));
  e.raw.push_back(raw);
  e.rated_at.push_back(at);
}

void set_ids(EvalData& e, int users, int movies) {
  for (int u = 0; u < users; ++u) e.ratings.user_ids.push_back(100 + u);
  for (int m = 0; m < movies; ++m) e.ratings.movie_ids.push_back(1000 + m);
}

// User u rates movies 0..u (u + 1 ratings) at random times.
EvalData staircase(int users) {
  EvalData e;
  set_ids(e, users, users);
  std::mt19937_64 rng(3);
  for (int u = 0; u < users; ++u) {
    for (int m = 0; m <= u; ++m) add(e, u, m, 1 + static_cast<double>(rng() % 5), rng() % 1000);
  }
  return e;
}

std::vector<std::size_t> held_per_user(const EvalData& e, const std::vector<char>& held) {
  std::vector<std::size_t> n(e.ratings.user_ids.size(), 0);
  for (std::size_t i = 0; i < held.size(); ++i) n[e.ratings.user[i]] += held[i] ? 1 : 0;
  return n;
}

TEST(HoldoutSplit, RandomHoldsOutTheShareOfEveryUserAndKeepsOneForTraining) {
  EvalData e = staircase(60);
  EvaluateConfig c;
  c.split = "random";
  c.holdout_fraction = 0.2;
  auto held = eval::holdout_split(e, c, 42);
  ASSERT_EQ(held.size(), e.ratings.size());
  auto n = held_per_user(e, held);
  for (int u = 0; u < 60; ++u) {
    const int total = u + 1;
    auto want = std::min<long>(std::lround(0.2 * total), total - 1);
    EXPECT_EQ(static_cast<long>(n[u]), want) << "user " << u;
  }
  // A large share still leaves every user a training rating.
  c.holdout_fraction = 0.9;
  n = held_per_user(e, eval::holdout_split(e, c, 42));
  for (int u = 0; u < 60; ++u) EXPECT_LT(n[u], static_cast<std::size_t>(u + 1)) << "user " << u;
}

TEST(HoldoutSplit, RandomIsDeterministicPerSeedAndDependsOnIt) {
  EvalData e = staircase(60);
  EvaluateConfig c;
  c.split = "random";
  auto a = eval::holdout_split(e, c, 42);
  EXPECT_EQ(a, eval::holdout_split(e, c, 42));
  EXPECT_NE(a, eval::holdout_split(e, c, 43));
  // Not simply the same positions in every user's list.
  std::size_t first = 0, last = 0, begin = 0;
  for (int u = 0; u < 60; ++u) {
    first += a[begin];
    last += a[begin + u];
    begin += u + 1;
  }
  EXPECT_GT(first, 0u);
  EXPECT_GT(last, 0u);
}

TEST(HoldoutSplit, LatestHoldsOutExactlyTheNewestRatings) {
  EvalData e;
  set_ids(e, 2, 6);
  // User 0: times 5,5,5,1,1,9 for movies 0..5; 3 held out (round(0.5 * 6))
  // are movie 5 (t 9), then of the t-5 tie the larger ids 2 and 1.
  const std::int64_t t0[] = {5, 5, 5, 1, 1, 9};
  for (int m = 0; m < 6; ++m) add(e, 0, m, 3, t0[m]);
  // User 1: one rating, which must stay in training.
  add(e, 1, 3, 4, 100);
  EvaluateConfig c;
  c.split = "latest";
  c.holdout_fraction = 0.5;
  auto held = eval::holdout_split(e, c, 42);
  EXPECT_EQ(held, (std::vector<char>{0, 1, 1, 0, 0, 1, 0}));
  // The seed does not matter.
  EXPECT_EQ(held, eval::holdout_split(e, c, 7));
}

TEST(HoldoutSplit, LatestOnRandomTimesNeverTrainsOnANewerRating) {
  EvalData e = staircase(40);
  EvaluateConfig c;
  c.split = "latest";
  c.holdout_fraction = 0.3;
  auto held = eval::holdout_split(e, c, 1);
  std::size_t begin = 0;
  for (int u = 0; u < 40; ++u) {
    std::int64_t newest_train = -1, oldest_held = 1 << 30;
    for (int j = 0; j <= u; ++j) {
      auto i = begin + j;
      if (held[i]) {
        oldest_held = std::min(oldest_held, e.rated_at[i]);
      } else {
        newest_train = std::max(newest_train, e.rated_at[i]);
      }
    }
    EXPECT_LE(newest_train, oldest_held) << "user " << u;
    begin += u + 1;
  }
}

TEST(HoldoutSplit, OnlyLatestNeedsTheTimestamps) {
  EvalData e = staircase(30);
  EvaluateConfig c;
  c.split = "random";
  EXPECT_FALSE(eval::needs_timestamps(c));
  c.holdout_fraction = 0.3;
  const auto with_times = eval::holdout_split(e, c, 5);
  // The nightly run loads no timestamps for the random split: the same split.
  e.rated_at = {};
  EXPECT_EQ(eval::holdout_split(e, c, 5), with_times);
  c.split = "latest";
  EXPECT_TRUE(eval::needs_timestamps(c));
  EXPECT_THROW(eval::holdout_split(e, c, 5), Error);
}

TEST(HoldoutSplit, UnknownSplitIsAConfigError) {
  EvaluateConfig c;
  c.split = "oldest";
  EXPECT_THROW(eval::holdout_split(staircase(3), c, 1), ConfigError);
}

TEST(Split, RelevanceUsesRawRatingsAndTrainingMasksRatedMovies) {
  EvalData e;
  set_ids(e, 2, 4);
  add(e, 0, 0, 5, 1);  // held, relevant
  add(e, 0, 1, 3, 1);  // held, not relevant
  add(e, 0, 2, 4, 1);  // training
  add(e, 1, 1, 4, 1);  // training
  add(e, 1, 3, 4, 1);  // held, relevant
  // The trained value is mapped; relevance must not look at it.
  for (auto& v : e.ratings.value) v = 0.0f;
  auto s = eval::make_split(e, {1, 1, 0, 0, 1}, 4.0);
  EXPECT_EQ(s.train.size(), 2u);
  EXPECT_EQ(s.test.size(), 3u);
  EXPECT_EQ(s.relevant.indptr, (std::vector<std::int64_t>{0, 1, 2}));
  EXPECT_EQ(s.relevant.indices, (std::vector<std::int32_t>{0, 3}));
  EXPECT_EQ(s.train_items.indptr, (std::vector<std::int64_t>{0, 1, 2}));
  EXPECT_EQ(s.train_items.indices, (std::vector<std::int32_t>{2, 1}));
  EXPECT_EQ(s.train_counts, (std::vector<float>{0, 1, 1, 0}));
}

TEST(Popularity, RanksByTrainingCountTiesBySmallerIdMaskingTrainingMovies) {
  // Training counts: movie 0: 2, 1: 3, 2: 3, 3: 0, 4: 1 (held-out ratings
  // do not count).
  EvalData e;
  set_ids(e, 4, 5);
  add(e, 0, 0, 5, 1);
  add(e, 0, 1, 5, 1);
  add(e, 0, 2, 5, 1);
  add(e, 1, 1, 5, 1);
  add(e, 1, 2, 5, 1);
  add(e, 1, 3, 5, 1);  // held out
  add(e, 2, 0, 5, 1);
  add(e, 2, 1, 5, 1);
  add(e, 2, 2, 5, 1);
  add(e, 3, 3, 5, 1);  // held out
  add(e, 3, 4, 5, 1);
  std::vector<char> held{0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0};
  auto s = eval::make_split(e, held, 4.0);
  EXPECT_EQ(s.train_counts, (std::vector<float>{2, 3, 3, 0, 1}));
  auto f = eval::popularity_factors(s.train_counts, 4);
  TopNOptions o;
  o.top_n = 5;
  o.threads = 1;
  auto top = score_top_n(f.users, f.movies, &s.train_items, o);
  auto list = [&](int u) {
    return std::vector<std::int32_t>(top.items.begin() + u * 5,
                                     top.items.begin() + u * 5 + top.counts[u]);
  };
  EXPECT_EQ(list(3), (std::vector<std::int32_t>{1, 2, 0, 3}));  // 4 is masked
  EXPECT_EQ(list(1), (std::vector<std::int32_t>{0, 4, 3}));     // 1, 2 masked
}

// Two taste groups of users over movies 10.., plus ten "blockbusters"
// (movies 0-9) that nearly everyone rates and dislikes. A user rates half
// of their own group's movies 4-5 and a tenth of the other group's 1-2.
// Popularity pushes the blockbusters; a model that learns the ratings ranks
// the user's own group first, where the relevant held-out movies are.
EvalData planted(int users, int movies, std::uint64_t seed) {
  EvalData e;
  set_ids(e, users, movies);
  std::mt19937_64 rng(seed);
  for (int u = 0; u < users; ++u) {
    for (int m = 0; m < movies; ++m) {
      const bool blockbuster = m < 10;
      const bool same = (u % 2) == (m % 2);
      const unsigned percent = blockbuster ? 90 : same ? 50 : 10;
      if (rng() % 100 >= percent) continue;
      const double base = same && !blockbuster ? 4 : 1;
      add(e, u, m, base + static_cast<double>(rng() % 2),
          static_cast<std::int64_t>(rng() % 100000));
    }
  }
  return e;
}

Config planted_config() {
  Config c;
  c.model.type = "dot";
  DotParams dot;
  dot.factors = 4;
  dot.epochs = 30;
  dot.learning_rate = 0.01;
  c.model.params["dot"] = dot;
  c.model.seed = 7;
  c.train.threads = 1;
  c.score.threads = 1;
  c.evaluate.k = {5, 10};
  return c;
}

TEST(Evaluate, ModelBeatsPopularityOnPlantedGroups) {
  EvalData e = planted(200, 60, 11);
  Config c = planted_config();
  auto r = eval::evaluate(e, c);
  EXPECT_EQ(r.model, "dot");
  EXPECT_EQ(r.train_ratings + r.test_ratings, static_cast<std::int64_t>(e.ratings.size()));
  EXPECT_GT(r.model_metrics.users_evaluated, 150);
  EXPECT_EQ(r.model_metrics.users_evaluated, r.popularity.users_evaluated);
  ASSERT_EQ(r.model_metrics.at.size(), 2u);
  for (std::size_t j = 0; j < 2; ++j) {
    EXPECT_GT(r.model_metrics.at[j].ndcg, r.popularity.at[j].ndcg + 0.2) << "K " << c.evaluate.k[j];
    EXPECT_GT(r.model_metrics.at[j].recall, r.popularity.at[j].recall) << "K " << c.evaluate.k[j];
  }
  // Ratings are 1-5: a model that learnt anything is well within 1.5.
  EXPECT_LT(r.rmse, 1.5);
  EXPECT_GT(r.mae, 0.0);
  EXPECT_LE(r.mae, r.rmse);

  // Deterministic for a fixed seed and thread count.
  auto again = eval::evaluate(e, c);
  EXPECT_EQ(again.rmse, r.rmse);
  EXPECT_EQ(again.model_metrics.at[1].ndcg, r.model_metrics.at[1].ndcg);
  EXPECT_EQ(again.popularity.at[1].map, r.popularity.at[1].map);
}

TEST(Evaluate, RankingOnlyModelsHaveNoRatingError) {
  EXPECT_TRUE(is_rating_model("dot"));
  EXPECT_TRUE(is_rating_model("deep"));
  EXPECT_TRUE(is_rating_model("biased_mf"));
  EXPECT_FALSE(is_rating_model("als"));
  EXPECT_FALSE(is_rating_model("bpr"));
  EXPECT_THROW(is_rating_model("lstm"), ConfigError);
}

TEST(EvaluateStage, RankingOnlyModelsWriteNullRatingError) {
  eval::EvalResult r;
  r.model = "als";
  r.split = "random";
  r.holdout_fraction = 0.2;
  r.rmse = std::nan("");
  r.mae = std::nan("");
  r.model_metrics.users_evaluated = 3;
  r.users_eligible = 3;
  r.model_metrics.at = {{10, 0.5, 0.25, 0.75, 0.125, 1.0, 0.375}};
  r.model_metrics.coverage = 0.5;
  r.popularity = r.model_metrics;
  EXPECT_EQ(eval_json(r, 2.0),
            "{\"model\":\"als\",\"split\":\"random\",\"holdout_fraction\":0.2,"
            "\"users_evaluated\":3,\"users_eligible\":3,\"users_fallback\":0,"
            "\"rmse\":null,\"mae\":null,\"model_metrics\":{"
            "\"precision@10\":0.5,\"recall@10\":0.25,\"recall_capped@10\":0.375,"
            "\"ndcg@10\":0.75,\"map@10\":0.125,\"hit_rate@10\":1,\"coverage\":0.5},"
            "\"popularity\":{\"precision@10\":0.5,\"recall@10\":0.25,"
            "\"recall_capped@10\":0.375,\"ndcg@10\":0.75,\"map@10\":0.125,"
            "\"hit_rate@10\":1,\"coverage\":0.5},\"seconds\":2}");
}

TEST(EvaluateStage, PrintsOneJsonLineAndRecordsTheRun) {
  test::TempDir dir;
  Config c = planted_config();
  c.database = dir / "recs.db";
  c.evaluate.split = "latest";
  auto db = db::open(c.database);
  {
    EvalData e = planted(60, 30, 5);
    SQLite::Transaction tx(*db);
    SQLite::Statement ins(*db,
                          "INSERT INTO ratings (user_id, movie_id, rating, rated_at) "
                          "VALUES (?, ?, ?, ?)");
    for (std::size_t i = 0; i < e.ratings.size(); ++i) {
      ins.bind(1, e.ratings.user_ids[e.ratings.user[i]]);
      ins.bind(2, e.ratings.movie_ids[e.ratings.movie[i]]);
      ins.bind(3, e.raw[i]);
      ins.bind(4, e.rated_at[i]);
      ins.exec();
      ins.reset();
    }
    tx.commit();
  }
  db::RunRecord run(*db, "evaluate", "");
  std::ostringstream out;
  EvalSummary s = run_evaluate(*db, c, run, out);
  run.succeed();

  const std::string line = out.str();
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1);
  EXPECT_EQ(line, s.json + "\n");
  EXPECT_EQ(line.rfind("{\"model\":\"dot\",\"split\":\"latest\",\"holdout_fraction\":0.2,", 0), 0u)
      << line;
  for (const char* key :
       {"\"users_evaluated\":", "\"rmse\":", "\"mae\":", "\"model_metrics\":{",
        "\"precision@5\":", "\"recall@10\":", "\"recall_capped@10\":", "\"ndcg@10\":", "\"map@5\":",
        "\"hit_rate@10\":", "\"coverage\":", "\"popularity\":{", "\"seconds\":"}) {
    EXPECT_NE(line.find(key), std::string::npos) << key << " in " << line;
  }
  EXPECT_EQ(line.find("null"), std::string::npos) << line;

  const std::string metrics =
      db->execAndGet("SELECT metrics FROM runs WHERE command = 'evaluate'").getString();
  EXPECT_NE(metrics.find("\"evaluation\":{\"model\":\"dot\""), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("\"eval_ndcg@10\":"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("\"eval_recall_capped@10\":"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("\"eval_rmse\":"), std::string::npos) << metrics;
}

TEST(EvaluateStage, EmptyDatabaseIsNotFound) {
  test::TempDir dir;
  Config c;
  auto db = db::open(dir / "recs.db");
  db::RunRecord run(*db, "evaluate", "");
  std::ostringstream out;
  EXPECT_THROW(run_evaluate(*db, c, run, out), NotFoundError);
  EXPECT_TRUE(out.str().empty());
}

}  // namespace
}  // namespace recs
