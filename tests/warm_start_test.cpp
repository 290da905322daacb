// The nightly run's shortcuts: als's convergence tolerance, the published
// model warm-started from the evaluated one, ranking metrics on a seeded
// sample of users, and the proof that the gated model never saw the
// held-out ratings.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

#include "eval/evaluate.h"
#include "models/als.h"
#include "models/registry.h"
#include "models/train_loop.h"
#include "test_util.h"

namespace recs::test {
namespace {

using eval::EvalData;

// Users of two tastes over `movies` movies: a user rates half of their own
// group's movies 4-5 and a tenth of the other's 1-2.
EvalData two_tastes(int users, int movies, std::uint64_t seed) {
  EvalData e;
  for (int u = 0; u < users; ++u) e.ratings.user_ids.push_back(u + 1);
  for (int m = 0; m < movies; ++m) e.ratings.movie_ids.push_back(m + 1);
  std::mt19937_64 rng(seed);
  for (int u = 0; u < users; ++u) {
    for (int m = 0; m < movies; ++m) {
      const bool same = (u % 2) == (m % 2);
      if (rng() % 100 >= (same ? 50u : 10u)) continue;
      const double stars = (same ? 4 : 1) + static_cast<double>(rng() % 2);
      e.ratings.user.push_back(u);
      e.ratings.movie.push_back(m);
      e.ratings.value.push_back(static_cast<float>(stars));
      e.raw.push_back(stars);
      e.rated_at.push_back(static_cast<std::int64_t>(rng() % 100000));
    }
  }
  return e;
}

Config als_config(int epochs, double tolerance) {
  Config c;
  c.model.type = "als";
  AlsParams p;
  p.factors = 8;
  p.epochs = epochs;
  p.tolerance = tolerance;
  c.model.params["als"] = p;
  c.model.seed = 7;
  c.train.threads = 1;
  c.score.threads = 1;
  c.evaluate.k = {5, 10};
  return c;
}

TEST(TrainLoop, ToleranceStopsOnceTheLossFlattens) {
  // Losses 10, 5, 4.9, 4.89, ...: the third pass improves by 2 %, the fourth
  // by 0.2 %.
  const std::vector<double> losses{10, 5, 4.9, 4.89, 4.889, 4.8889};
  EpochLoop loop;
  loop.epochs = static_cast<int>(losses.size());
  loop.tolerance = 0.01;
  EpochCallbacks cb;
  cb.run_epoch = [&](int epoch) { return losses[static_cast<std::size_t>(epoch - 1)]; };
  EXPECT_EQ(train_epochs(loop, cb).epochs.size(), 4u);
  loop.tolerance = 0.03;
  EXPECT_EQ(train_epochs(loop, cb).epochs.size(), 3u);
  loop.tolerance = 0;  // every epoch
  EXPECT_EQ(train_epochs(loop, cb).epochs.size(), losses.size());
  // A loss that rises stops too (it did not fall by the tolerance).
  const std::vector<double> rising{3, 2, 2.5, 1};
  cb.run_epoch = [&](int epoch) { return rising[static_cast<std::size_t>(epoch - 1)]; };
  loop.epochs = 4;
  loop.tolerance = 1e-6;
  EXPECT_EQ(train_epochs(loop, cb).epochs.size(), 3u);
}

TEST(Als, WarmStartContinuesFromTheGivenVectors) {
  const EvalData e = two_tastes(120, 40, 3);
  Triplets all{e.ratings.user, e.ratings.movie, e.ratings.value};
  const Config c = als_config(30, 0);
  auto cold = make_model(c.model, c.train);
  const TrainReport cold_report = cold->fit(all, {}, 120, 40);
  const Factors converged = cold->factors();

  // From the converged vectors, one iteration lands where another cold
  // iteration would: at the converged loss, far below a cold start's first.
  Config one = als_config(1, 0);
  auto warm = make_model(one.model, one.train);
  ASSERT_TRUE(warm->warm_start(converged));
  const TrainReport warm_report = warm->fit(all, {}, 120, 40);
  auto fresh = make_model(one.model, one.train);
  const TrainReport fresh_report = fresh->fit(all, {}, 120, 40);
  EXPECT_NEAR(warm_report.epochs.back().loss, cold_report.epochs.back().loss,
              1e-3 * cold_report.epochs.back().loss);
  EXPECT_LT(warm_report.epochs.back().loss, fresh_report.epochs.back().loss);

  // Vectors of another shape are refused; the fit then starts cold, as
  // without them.
  Factors other;
  other.users = RowMatrix::Zero(120, 3);
  other.movies = RowMatrix::Zero(40, 3);
  auto refused = make_model(one.model, one.train);
  EXPECT_FALSE(refused->warm_start(other));
  EXPECT_EQ(refused->fit(all, {}, 120, 40).epochs.back().loss, fresh_report.epochs.back().loss);
}

// The quality gate judges eval::evaluate's model. It must be exactly a
// fresh model of the configured type fitted on the training part of the
// split: no held-out rating in its data, no vectors of a
// model that saw them (such as the live model, or the published one of a
// previous run), whether the metrics are measured on every eligible user or
// on a sample (`sample_users` < the eligible users).
void expect_gated_model_never_saw_held_out(int sample_users) {
  const EvalData e = two_tastes(150, 40, 5);
  Config c = als_config(12, 0.002);
  c.evaluate.sample_users = sample_users;
  const eval::EvalResult r = eval::evaluate(e, c);

  const eval::EvaluationSplit es = eval::evaluation_split(e, c);
  const eval::Split& split = es.split;
  const std::vector<char> full = eval::holdout_split(e, c.evaluate, c.model.seed);
  const eval::Split full_split = eval::make_split(e, full, c.evaluate.relevant_threshold);
  EXPECT_EQ(es.users, eval::evaluated_users(full_split, sample_users, c.model.seed));
  EXPECT_EQ(es.eligible, static_cast<std::int64_t>(eval::evaluated_users(full_split, 0, 1).size()));
  EXPECT_EQ(es.sampled, es.users.size() < static_cast<std::size_t>(es.eligible));
  EXPECT_EQ(r.model_metrics.users_evaluated, static_cast<std::int64_t>(es.users.size()));
  const std::set<int> measured(es.users.begin(), es.users.end());

  std::set<std::pair<int, int>> train_pairs;
  for (std::size_t i = 0; i < split.train.size(); ++i) {
    train_pairs.insert({split.train.user[i], split.train.movie[i]});
  }
  EXPECT_EQ(split.train.size() + split.test.size(), e.ratings.size());
  std::size_t held_out = 0;
  for (std::size_t i = 0; i < full.size(); ++i) {
    const std::pair<int, int> pair{e.ratings.user[i], e.ratings.movie[i]};
    // Every user, measured or not, keeps exactly the full split's held-out
    // share out of training.
    EXPECT_EQ(train_pairs.count(pair), full[i] ? 0u : 1u);
    held_out += full[i] ? 1 : 0;
  }
  EXPECT_EQ(held_out, split.test.size());
  ASSERT_GT(held_out, 100u);
  for (const int u : measured) {  // each measured user has a relevant held-out movie
    EXPECT_GT(split.relevant.indptr[static_cast<std::size_t>(u) + 1],
              split.relevant.indptr[static_cast<std::size_t>(u)]);
  }
  auto model = make_model(c.model, c.train);
  model->fit(split.train, {}, 150, 40);
  const Factors expected = model->factors();
  EXPECT_TRUE(r.factors.users == expected.users);
  EXPECT_TRUE(r.factors.movies == expected.movies);
}

TEST(Evaluate, TheGatedModelIsFittedOnTheTrainingPartAloneFromItsOwnStart) {
  expect_gated_model_never_saw_held_out(20000);  // every eligible user measured
}

TEST(Evaluate, WithASampleTheGatedModelStillNeverSawAnyHeldOutRating) {
  expect_gated_model_never_saw_held_out(40);
}

TEST(Evaluate, UserSampleIsSeededUniformAndDrawnFromUsersWithRelevantMovies) {
  const EvalData e = two_tastes(400, 40, 9);
  const Config c = als_config(5, 0);
  const std::vector<char> held = eval::holdout_split(e, c.evaluate, c.model.seed);
  const eval::Split split = eval::make_split(e, held, c.evaluate.relevant_threshold);
  const auto all = eval::evaluated_users(split, 0, 1);
  ASSERT_GT(all.size(), 300u);
  for (auto u : all) {
    EXPECT_GT(split.relevant.indptr[static_cast<std::size_t>(u) + 1],
              split.relevant.indptr[static_cast<std::size_t>(u)]);
  }
  EXPECT_EQ(eval::evaluated_users(split, static_cast<int>(all.size()), 1), all);
  const auto a = eval::evaluated_users(split, 100, 1);
  ASSERT_EQ(a.size(), 100u);
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_TRUE(std::includes(all.begin(), all.end(), a.begin(), a.end()));
  EXPECT_EQ(eval::evaluated_users(split, 100, 1), a);
  EXPECT_NE(eval::evaluated_users(split, 100, 2), a);
  // Uniform: both halves of the users are about equally represented.
  const auto below = std::count_if(a.begin(), a.end(), [](int u) { return u < 200; });
  EXPECT_GT(below, 30);
  EXPECT_LT(below, 70);

  // The restricted split holds exactly those users' rows.
  const eval::Split sub = eval::restrict_users(split, a);
  ASSERT_EQ(sub.relevant.indptr.size(), a.size() + 1);
  for (std::size_t j = 0; j < a.size(); ++j) {
    const auto u = static_cast<std::size_t>(a[j]);
    EXPECT_EQ(sub.train_items.indptr[j + 1] - sub.train_items.indptr[j],
              split.train_items.indptr[u + 1] - split.train_items.indptr[u]);
    EXPECT_EQ(sub.relevant.indptr[j + 1] - sub.relevant.indptr[j],
              split.relevant.indptr[u + 1] - split.relevant.indptr[u]);
  }
  EXPECT_EQ(sub.train.size(), sub.train_items.indices.size());
}

TEST(Evaluate, SampledMetricsMeasureTheSampleAndStayCloseToAllUsers) {
  const EvalData e = two_tastes(600, 60, 13);
  Config c = als_config(10, 0);
  c.evaluate.sample_users = 0;
  const eval::EvalResult full = eval::evaluate(e, c);
  c.evaluate.sample_users = 300;
  const eval::EvalResult sampled = eval::evaluate(e, c);
  EXPECT_EQ(sampled.users_eligible, full.users_eligible);
  EXPECT_EQ(full.model_metrics.users_evaluated, full.users_eligible);
  EXPECT_EQ(sampled.model_metrics.users_evaluated, 300);
  EXPECT_EQ(sampled.popularity.users_evaluated, 300);
  for (std::size_t j = 0; j < 2; ++j) {
    EXPECT_NEAR(sampled.model_metrics.at[j].ndcg, full.model_metrics.at[j].ndcg, 0.05);
    EXPECT_NEAR(sampled.popularity.at[j].ndcg, full.popularity.at[j].ndcg, 0.05);
    EXPECT_NE(sampled.model_metrics.at[j].ndcg, full.model_metrics.at[j].ndcg);
  }
}

TEST(NightlyRun, GateJudgesAModelThatNeverSawTheHeldOutRatingsAndThePublishedOneStartsWarm) {
  // Two nights on the same export. The second has a live model trained on
  // every rating, the held-out ones included; its gate must still judge a
  // model fitted on the training part from its own seed: the same figures
  // `pipeline evaluate` (a separate process with no model to start from)
  // measures on that database, here on a sample of 300 users.
  TempDir dir;
  auto config = make_dataset(dir, 800, 400, 30000,
                             "model:\n  type: als\n  als: {factors: 16}\nevaluate:\n  in_run: "
                             "true\n  sample_users: 300\nscore:\n  top_n: 10\n");
  for (int night = 0; night < 2; ++night) {
    auto r = run_pipeline("run --config " + quoted(config));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("starting als from the evaluated model's vectors"), std::string::npos)
        << r.err;
  }
  auto ev = run_pipeline("evaluate --config " + quoted(config));
  ASSERT_EQ(ev.exit_code, 0) << ev.err;
  const auto db = dir / "recs.db";
  for (const std::string key : {"users_evaluated", "model_metrics.\"ndcg@10\"",
                                "model_metrics.\"recall@20\"", "popularity.\"ndcg@10\""}) {
    const std::string from_run =
        sqlite_readonly(db, "SELECT json_extract(metrics, '$.evaluation." + key +
                                "') FROM runs WHERE command = 'run' ORDER BY run_id DESC LIMIT 1;");
    const std::string alone =
        sqlite_readonly(db, "SELECT json_extract(" + std::string("'") +
                                ev.out.substr(0, ev.out.find('\n')) + "', '$." + key + "');");
    EXPECT_EQ(from_run, alone) << key;
    EXPECT_NE(from_run, "\n") << key;
  }
  EXPECT_EQ(sqlite_readonly(db,
                            "SELECT json_extract(metrics, '$.evaluation.users_evaluated'), "
                            "json_extract(metrics, '$.evaluation.users_eligible') > 300 "
                            "FROM runs WHERE command = 'run' ORDER BY run_id DESC LIMIT 1;"),
            "300|1\n");
  // The published model started warm and stopped at the tolerance, well
  // before the 25 iterations of a cold start.
  EXPECT_EQ(sqlite_readonly(db,
                            "SELECT json_extract(counts, '$.train_warm_start'), "
                            "json_array_length(json_extract(metrics, '$.epochs')) < 10 "
                            "FROM runs WHERE command = 'run' ORDER BY run_id DESC LIMIT 1;"),
            "1|1\n");
}

}  // namespace
}  // namespace recs::test
