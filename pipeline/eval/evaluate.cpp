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
  std::size_t n = 0;
  for (std::size_t i = 0; i < r.size(); ++i) n += keep(i) ? 1 : 0;
  out.indices.reserve(n);
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

bool needs_timestamps(const EvaluateConfig& config) { return config.split == "latest"; }

std::vector<char> holdout_split(const EvalData& data, const EvaluateConfig& config,
                                std::uint64_t seed) {
  const RatingMatrix& r = data.ratings;
  if (data.raw.size() != r.size() ||
      (needs_timestamps(config) && data.rated_at.size() != r.size())) {
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
  const auto n_held = static_cast<std::size_t>(std::count(held_out.begin(), held_out.end(), 1));
  s.test.user.reserve(n_held);
  s.test.movie.reserve(n_held);
  s.test.value.reserve(n_held);
  s.train.user.reserve(r.size() - n_held);
  s.train.movie.reserve(r.size() - n_held);
  s.train.value.reserve(r.size() - n_held);
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

namespace {

// Selection sampling (Knuth's Algorithm S): exactly sample_users of
// `eligible` (ascending), in order; all of them when there are not more.
std::vector<std::int32_t> sample_of(std::vector<std::int32_t> eligible, int sample_users,
                                    std::uint64_t seed) {
  if (sample_users <= 0 || eligible.size() <= static_cast<std::size_t>(sample_users)) {
    return eligible;
  }
  random::Rng rng(seed, random::Stream::kEvaluationSample);
  std::vector<std::int32_t> sample;
  sample.reserve(static_cast<std::size_t>(sample_users));
  std::size_t need = static_cast<std::size_t>(sample_users);
  const std::size_t n = eligible.size();
  for (std::size_t i = 0; i < n && need > 0; ++i) {
    if (random::below(rng, n - i) < need) {
      sample.push_back(eligible[i]);
      --need;
    }
  }
  return sample;
}

}  // namespace

std::vector<std::int32_t> evaluated_users(const Split& split, int sample_users,
                                          std::uint64_t seed) {
  std::vector<std::int32_t> eligible;
  const auto& at = split.relevant.indptr;
  for (std::size_t u = 0; u + 1 < at.size(); ++u) {
    if (at[u + 1] > at[u]) eligible.push_back(static_cast<std::int32_t>(u));
  }
  return sample_of(std::move(eligible), sample_users, seed);
}

EvaluationSplit evaluation_split(const EvalData& data, const Config& config) {
  const RatingMatrix& r = data.ratings;
  const std::vector<char> held = holdout_split(data, config.evaluate, config.model.seed);
  // The users with a relevant held-out rating, as evaluated_users() finds
  // them on make_split(held), without building the full split first.
  std::vector<char> relevant(static_cast<std::size_t>(r.num_users()), 0);
  for (std::size_t i = 0; i < r.size(); ++i) {
    if (held[i] && data.raw[i] >= config.evaluate.relevant_threshold) {
      relevant[static_cast<std::size_t>(r.user[i])] = 1;
    }
  }
  std::vector<std::int32_t> eligible;
  for (std::size_t u = 0; u < relevant.size(); ++u) {
    if (relevant[u]) eligible.push_back(static_cast<std::int32_t>(u));
  }
  EvaluationSplit out;
  out.eligible = static_cast<std::int64_t>(eligible.size());
  out.users = sample_of(eligible, config.evaluate.sample_users, config.model.seed);
  out.sampled = out.users.size() < eligible.size();
  out.split = make_split(data, held, config.evaluate.relevant_threshold);
  return out;
}

Split restrict_users(const Split& split, const std::vector<std::int32_t>& users) {
  Split out;
  out.train_counts = split.train_counts;
  out.train_items.indptr.reserve(users.size() + 1);
  out.train_items.indptr.push_back(0);
  out.relevant.indptr.reserve(users.size() + 1);
  out.relevant.indptr.push_back(0);
  for (std::size_t j = 0; j < users.size(); ++j) {
    const auto u = static_cast<std::size_t>(users[j]);
    for (auto i = split.train_items.indptr[u]; i < split.train_items.indptr[u + 1]; ++i) {
      const auto at = static_cast<std::size_t>(i);
      out.train_items.indices.push_back(split.train_items.indices[at]);
      out.train.user.push_back(static_cast<std::int32_t>(j));
      out.train.movie.push_back(split.train.movie[at]);
      out.train.value.push_back(split.train.value[at]);
    }
    out.train_items.indptr.push_back(static_cast<std::int64_t>(out.train_items.indices.size()));
    for (auto i = split.relevant.indptr[u]; i < split.relevant.indptr[u + 1]; ++i) {
      out.relevant.indices.push_back(split.relevant.indices[static_cast<std::size_t>(i)]);
    }
    out.relevant.indptr.push_back(static_cast<std::int64_t>(out.relevant.indices.size()));
  }
  return out;
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

  const EvaluationSplit es = evaluation_split(data, config);
  const Split& split = es.split;
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
  Factors f = model->factors();
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

  // Ranking metrics on the users with a relevant held-out movie, or a
  // seeded sample of them (evaluate.sample_users): only the sample is scored.
  const std::vector<std::int32_t>& users = es.users;
  out.users_eligible = es.eligible;
  const SignalRule rule = signal_rule(config.model, config.model.type);
  const int num_movies = static_cast<int>(f.movies.rows());
  if (!es.sampled) {
    const Factors popular = popularity_factors(split.train_counts, r.num_users());
    const TopNBlock served =
        served_lists(f, popular, split, rule, config.evaluate, config.score, &out.users_fallback);
    out.model_metrics = ranking_metrics(served, split.relevant, config.evaluate.k, num_movies);
    out.popularity = rank_and_measure(popular, split, config.evaluate, config.score);
  } else {
    log::info("ranking metrics on a seeded sample of " + std::to_string(users.size()) + " of the " +
              std::to_string(es.eligible) +
              " users with a relevant held-out rating (evaluate.sample_users)");
    const Split sampled = restrict_users(split, users);
    Factors sampled_f;
    sampled_f.users.resize(static_cast<Eigen::Index>(users.size()), f.users.cols());
    for (std::size_t j = 0; j < users.size(); ++j) {
      sampled_f.users.row(static_cast<Eigen::Index>(j)) = f.users.row(users[j]);
    }
    sampled_f.movies = f.movies;
    const Factors popular = popularity_factors(split.train_counts, static_cast<int>(users.size()));
    const TopNBlock served = served_lists(sampled_f, popular, sampled, rule, config.evaluate,
                                          config.score, &out.users_fallback);
    out.model_metrics = ranking_metrics(served, sampled.relevant, config.evaluate.k, num_movies);
    out.popularity = rank_and_measure(popular, sampled, config.evaluate, config.score);
  }
  out.factors = std::move(f);
  return out;
}

}  // namespace recs::eval
