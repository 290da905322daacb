// Offline evaluation: hold out part of each user's ratings, train the
// configured model on the rest, and measure rating error and top-K ranking
// quality of what the scoring kernel would publish, beside a popularity
// baseline on the same split. Pure in-memory; the stage (app/evaluate.h)
// loads the ratings and reports.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"
#include "data/ratings.h"
#include "eval/metrics.h"
#include "models/model.h"
#include "models/signal.h"

namespace recs::eval {

// Stored ratings as the models see them (ratings.value is after
// import.rating_map) plus what evaluation needs beside: the raw rating,
// which decides relevance, and the timestamp, which the latest split orders
// by. Parallel to ratings' entries, sorted by (user, movie); rated_at may
// be empty when the split does not read it (needs_timestamps).
struct EvalData {
  RatingMatrix ratings;
  std::vector<double> raw;
  std::vector<std::int64_t> rated_at;
};

// Whether evaluate.split orders by timestamp (latest), so EvalData must
// carry rated_at; random ignores it.
bool needs_timestamps(const EvaluateConfig& config);

// Which entries of `data` are held out (1) per evaluate.split:
//  random: round(holdout_fraction * n_u) of each user's ratings at random,
//          from a generator seeded with `seed` (same seed, same split);
//  latest: each user's round(holdout_fraction * n_u) newest ratings by
//          timestamp, ties going to the larger movie id.
// Either way at least one rating of every user stays in training.
std::vector<char> holdout_split(const EvalData& data, const EvaluateConfig& config,
                                std::uint64_t seed);

// The held-out share as the inputs every scorer needs.
struct Split {
  Triplets train;
  Triplets test;                    // mapped values, for RMSE/MAE
  UserItems train_items;            // per user, the training movies: masked before ranking
  UserItems relevant;               // per user, held-out movies with raw rating >= threshold
  std::vector<float> train_counts;  // per movie, training ratings: the popularity score
};
Split make_split(const EvalData& data, const std::vector<char>& held_out,
                 double relevant_threshold);

// The users ranking metrics are measured on, ascending: every user with a
// relevant held-out movie or, when there are more than sample_users (> 0),
// a uniform sample of exactly sample_users of them, drawn with its own
// stream of `seed` (same seed and split, same users).
std::vector<std::int32_t> evaluated_users(const Split& split, int sample_users, std::uint64_t seed);

// The split evaluate() fits and measures on: holdout_split()'s share of
// every user held out, and the users measured, evaluated_users() of it
// (found without building the split twice). Every user's held-out ratings
// stay out of training, sampled or not: holding out only the sample's
// (training the judged model on 97.5 % of the ratings at ML-25M size
// instead of 80 %) was measured there and did not pay (README "Speed").
struct EvaluationSplit {
  Split split;
  std::vector<std::int32_t> users;  // the measured users, ascending
  std::int64_t eligible = 0;        // users with a relevant held-out rating in the full split
  bool sampled = false;             // users is a sample of them
};
EvaluationSplit evaluation_split(const EvalData& data, const Config& config);

// `split` restricted to `users` (ascending), renumbered 0..users.size()-1:
// their training movies and values, relevant movies and the popularity
// counts (all users' training ratings, unchanged). No test ratings.
Split restrict_users(const Split& split, const std::vector<std::int32_t>& users);

// Popularity baseline factors: score(u, m) = training ratings of m, so the
// one scoring kernel ranks it (ties by smaller movie id, training movies
// masked) exactly as it ranks a model.
Factors popularity_factors(const std::vector<float>& train_counts, int num_users);

// Top-max(K) of every user from the kernel with the training movies masked,
// scored against the relevant held-out movies.
RankingMetrics rank_and_measure(const Factors& f, const Split& split, const EvaluateConfig& config,
                                const ScoreConfig& score);

// What the web app shows each user, as the score stage publishes it: the
// model's top-max(K) (training movies masked), except for the users whose
// vectors carry no signal by `rule` (models/signal.h; positives counted on
// the training split), who get no rows and so see the popularity fallback:
// their lists are `fallback`'s. `replaced` (optional) counts those users.
TopNBlock served_lists(const Factors& f, const Factors& fallback, const Split& split,
                       const SignalRule& rule, const EvaluateConfig& config,
                       const ScoreConfig& score, std::int64_t* replaced = nullptr);

struct EvalResult {
  std::string model;
  std::string split;
  double holdout_fraction = 0;
  std::int64_t train_ratings = 0;
  std::int64_t test_ratings = 0;
  double rmse = 0;  // NaN for implicit models (models/registry.h): they only rank
  double mae = 0;
  RankingMetrics model_metrics;
  RankingMetrics popularity;
  // Users whose vectors carry no signal, measured on the popularity list the
  // web app then serves them (served_lists).
  std::int64_t users_fallback = 0;
  // Users with a relevant held-out movie; the metrics are measured on
  // model_metrics.users_evaluated of them (evaluate.sample_users).
  std::int64_t users_eligible = 0;
  double fit_seconds = 0;
  // The evaluated model's vectors: fitted on the training part only.
  Factors factors;
};

// Splits per evaluation_split() (seed config.model.seed), trains config.model on
// the training part with an empty validation set (the held-out ratings must
// not steer training, e.g. biased_mf's early stopping) from the model's own
// seeded start (never another model's vectors, which may have seen the
// held-out ratings), and measures the model and the popularity baseline on
// evaluated_users(). Throws GateError when training diverges.
EvalResult evaluate(const EvalData& data, const Config& config);

}  // namespace recs::eval
