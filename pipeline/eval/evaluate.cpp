#include "eval/evaluate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "models/registry.h"
#include "scoring/topn.h"
#include "util/error.h"
#include "util/log.h"
#include "util/random.h"

namespace recs::eval {
namespace {

// Ratings of user u are entries [begin[u], begin[u + 1]).
std::vector<std::size_t> user_offsets(const RatingMatrix& r) {
  std::vector<std::size_t> begin(static_cast<std::size_t>(r.num_users()) + 1, 0);
  for (auto u : r.user) ++begin[static_cast<std::size_t>(u) + 1];
  for (std::size_t i = 1; i < begin.size(); ++i) begin[i] += begin[i - 1];
  return begin;
}

std::size_t holdout_count(double fraction, std::size_t n) {
  if (n == 0) return 0;
  auto h = static_cast<std::size_t>(std::llround(fraction * static_cast<double>(n)));
  return std::min(h, n - 1);  // every user keeps a training rating
}

// CSR over users from entries sorted by (user, movie), keeping those `keep`
// accepts; rows come out sorted.
template <typename Keep>
UserItems csr(const RatingMatrix& r, Keep keep) {
  UserItems out;
  out.indptr.assign(static_cast<std::size_t>(r.num_users()) + 1, 0);
  for (std::size_t i = 0; i < r.size(); ++i) {
    if (!keep(i)) continue;
    ++out.indptr[static_cast<std::size_t>(r.user[i]) + 1];
    out.indices.push_back(r.movie[i]);
  }
  for (std::size_t i = 1; i < out.indptr.size(); ++i) out.indptr[i] += out.indptr[i - 1];
  return out;
}

void push(Triplets& t, const RatingMatrix& r, std::size_t i) {
  t.user.push_back(r.user[i]);
  t.movie.push_back(r.movie[i]);
  t.value.push_back(r.value[i]);
}

}  // namespace

std::vector<char> holdout_split(const EvalData& data, const EvaluateConfig& config,
                                std::uint64_t seed) {
  const RatingMatrix& r = data.ratings;
  if (data.raw.size() != r.size() || data.rated_at.size() != r.size()) {
    throw Error(ExitCode::kInternal, "holdout_split: rating columns differ in length");
  }
  std::vector<char> held(r.size(), 0);
  const auto begin = user_offsets(r);
  std::vector<std::size_t> order;
  if (config.split == "random") {
    // One stream walked through the users in order (util/random.h: the
    // same split with every standard library).
    random::Rng rng(seed, random::Stream::kEvaluationSplit);
    for (std::size_t u = 0; u + 1 < begin.size(); ++u) {
      const std::size_t n = begin[u + 1] - begin[u];
      const std::size_t h = holdout_count(config.holdout_fraction, n);
      order.resize(n);
      std::iota(order.begin(), order.end(), begin[u]);
      // Partial Fisher-Yates: the first h slots become a uniform sample.
      for (std::size_t j = 0; j < h; ++j) {
        const std::size_t pick = j + static_cast<std::size_t>(random::below(rng, n - j));
        std::swap(order[j], order[pick]);
        held[order[j]] = 1;
      }
    }
  } else if (config.split == "latest") {
    for (std::size_t u = 0; u + 1 < begin.size(); ++u) {
      const std::size_t n = begin[u + 1] - begin[u];
      const std::size_t h = holdout_count(config.holdout_fraction, n);
      order.resize(n);
      std::iota(order.begin(), order.end(), begin[u]);
      // Oldest first; equal timestamps by movie id, so the split is total.
      std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        if (data.rated_at[a] != data.rated_at[b]) return data.rated_at[a] < data.rated_at[b];
        return r.movie[a] < r.movie[b];
      });
      for (std::size_t j = n - h; j < n; ++j) held[order[j]] = 1;
    }
  } else {
    throw ConfigError("evaluate.split: unknown split '" + config.split +
                      "' (known: random, latest)");
  }
  return held;
}

Split make_split(const EvalData& data, const std::vector<char>& held_out,
                 double relevant_threshold) {
  const RatingMatrix& r = data.ratings;
  if (held_out.size() != r.size() || data.raw.size() != r.size()) {
    throw Error(ExitCode::kInternal, "make_split: rating columns differ in length");
  }
  Split s;
  s.train_counts.assign(static_cast<std::size_t>(r.num_movies()), 0.0f);
  for (std::size_t i = 0; i < r.size(); ++i) {
    if (held_out[i]) {
      push(s.test, r, i);
    } else {
      push(s.train, r, i);
      s.train_counts[static_cast<std::size_t>(r.movie[i])] += 1.0f;
    }
  }
  s.train_items = csr(r, [&](std::size_t i) { return !held_out[i]; });
  s.relevant =
      csr(r, [&](std::size_t i) { return held_out[i] && data.raw[i] >= relevant_threshold; });
  return s;
}

Factors popularity_factors(const std::vector<float>& train_counts, int num_users) {
  Factors f;
  f.users = RowMatrix::Ones(num_users, 1);
  f.movies.resize(static_cast<Eigen::Index>(train_counts.size()), 1);
  for (std::size_t m = 0; m < train_counts.size(); ++m) {
    f.movies(static_cast<Eigen::Index>(m), 0) = train_counts[m];
  }
  return f;
}

namespace {

TopNBlock top_lists(const Factors& f, const Split& split, const EvaluateConfig& config,
                    const ScoreConfig& score) {
  if (config.k.empty()) throw ConfigError("evaluate.k: no cut-offs given");
  TopNOptions options;
  options.top_n = *std::max_element(config.k.begin(), config.k.end());
  options.threads = score.threads;
  options.user_block = score.user_block;
  options.movie_block = score.movie_block;
  return score_top_n(f.users, f.movies, &split.train_items, options);
}

}  // namespace

RankingMetrics rank_and_measure(const Factors& f, const Split& split, const EvaluateConfig& config,
                                const ScoreConfig& score) {
  return ranking_metrics(top_lists(f, split, config, score), split.relevant, config.k,
                         static_cast<int>(f.movies.rows()));
}

TopNBlock served_lists(const Factors& f, const Factors& fallback, const Split& split,
                       const SignalRule& rule, const EvaluateConfig& config,
                       const ScoreConfig& score, std::int64_t* replaced) {
  TopNBlock top = top_lists(f, split, config, score);
  // Training values are in the order of train_items' entries (both follow
  // the ratings' (user, movie) order).
  std::vector<char> keep = users_with_positive(rule, split.train_items.indptr, split.train.value);
  TopNBlock floored = top;
  drop_below_floor(rule, floored);
  std::int64_t n = 0;
  TopNBlock popular;
  for (std::size_t u = 0; u < keep.size(); ++u) {
    if (keep[u] && floored.counts[u] == top.counts[u]) continue;
    if (popular.counts.empty()) popular = top_lists(fallback, split, config, score);
    const auto base = u * static_cast<std::size_t>(top.top_n);
    std::copy_n(popular.items.begin() + static_cast<std::ptrdiff_t>(base), top.top_n,
                top.items.begin() + static_cast<std::ptrdiff_t>(base));
    std::copy_n(popular.scores.begin() + static_cast<std::ptrdiff_t>(base), top.top_n,
                top.scores.begin() + static_cast<std::ptrdiff_t>(base));
    top.counts[u] = popular.counts[u];
    ++n;
  }
  if (replaced) *replaced = n;
  return top;
}

EvalResult evaluate(const EvalData& data, const Config& config) {
  const RatingMatrix& r = data.ratings;
  EvalResult out;
  out.model = config.model.type;
  out.split = config.evaluate.split;
  out.holdout_fraction = config.evaluate.holdout_fraction;

  const auto held = holdout_split(data, config.evaluate, config.model.seed);
  const Split split = make_split(data, held, config.evaluate.relevant_threshold);
  out.train_ratings = static_cast<std::int64_t>(split.train.size());
  out.test_ratings = static_cast<std::int64_t>(split.test.size());
  log::info("evaluating " + config.model.type + ": " + config.evaluate.split + " split, " +
            std::to_string(split.train.size()) + " training and " +
            std::to_string(split.test.size()) + " held-out ratings from " +
            std::to_string(r.num_users()) + " users and " + std::to_string(r.num_movies()) +
            " movies");

  log::Stopwatch clock;
  auto model = make_model(config.model, config.train);
  model->fit(split.train, Triplets{}, r.num_users(), r.num_movies());
  out.fit_seconds = clock.seconds();
  const Factors f = model->factors();
  if (!f.users.allFinite() || !f.movies.allFinite()) {
    throw GateError(
        "training diverged: the model has non-finite vectors (try a "
        "smaller model.learning_rate)");
  }

  const double nan = std::numeric_limits<double>::quiet_NaN();
  out.rmse = nan;
  out.mae = nan;
  if (is_rating_model(config.model) && split.test.size() > 0) {
    out.rmse = std::sqrt(mse(f, split.test));
    // Serial, for the same reason as mse(): a fixed summation order.
    double abs_sum = 0;
    for (std::size_t i = 0; i < split.test.size(); ++i) {
      const double p = f.users.row(split.test.user[i]).dot(f.movies.row(split.test.movie[i]));
      abs_sum += std::abs(p - static_cast<double>(split.test.value[i]));
    }
    out.mae = abs_sum / static_cast<double>(split.test.size());
  }

  const Factors popular = popularity_factors(split.train_counts, r.num_users());
  const TopNBlock served =
      served_lists(f, popular, split, signal_rule(config.model, config.model.type), config.evaluate,
                   config.score, &out.users_fallback);
  out.model_metrics =
      ranking_metrics(served, split.relevant, config.evaluate.k, static_cast<int>(f.movies.rows()));
  out.popularity = rank_and_measure(popular, split, config.evaluate, config.score);
  return out;
}

}  // namespace recs::eval
