// GCC 12 flags its own _mm512_undefined_ps() idiom inside Eigen's AVX-512
// kernels as maybe-uninitialised once instantiated here (a false positive).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "models/als.h"

#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "models/model.h"
#include "util/error.h"

namespace recs {
namespace {

// Users and movies fall into kGroups taste groups; a user rates (5 stars)
// random movies of their own group and, rarely, others at 1 star. One rated
// in-group movie per user is held out.
struct Planted {
  Triplets train;
  std::vector<int> held_out;  // per user
  int num_users = 400;
  int num_movies = 200;
};

constexpr int kGroups = 8;

Planted planted(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  Planted p;
  p.held_out.assign(static_cast<std::size_t>(p.num_users), -1);
  for (int u = 0; u < p.num_users; ++u) {
    const int g = u % kGroups;
    std::vector<int> mine;
    for (int m = g; m < p.num_movies; m += kGroups) mine.push_back(m);
    std::shuffle(mine.begin(), mine.end(), rng);
    const std::size_t n = 8 + rng() % 6;
    for (std::size_t k = 0; k < n && k < mine.size(); ++k) {
      if (k == 0) {
        p.held_out[static_cast<std::size_t>(u)] = mine[k];
        continue;
      }
      p.train.user.push_back(u);
      p.train.movie.push_back(mine[k]);
      p.train.value.push_back(5.0f);
    }
    for (int k = 0; k < 2; ++k) {  // off-group noise, below the threshold
      p.train.user.push_back(u);
      p.train.movie.push_back(static_cast<int>(rng() % p.num_movies));
      p.train.value.push_back(1.0f);
    }
  }
  return p;
}

AlsParams config() {
  AlsParams c;
  c.factors = 16;
  c.epochs = 8;
  c.l2 = 1.0;
  c.alpha = 2.0;
  c.init_scale = 0.01;
  c.cg_steps = 3;
  c.positive_threshold = 3.5;
  return c;
}

// Seed 11 on n threads.
ModelContext threads(int n) { return ModelContext{.seed = 11, .threads = n}; }

// Share of users whose held-out movie is in their top 10 of unrated movies.
double hit_rate(const Factors& f, const Planted& p) {
  std::vector<std::set<int>> rated(static_cast<std::size_t>(p.num_users));
  for (std::size_t i = 0; i < p.train.size(); ++i) {
    rated[static_cast<std::size_t>(p.train.user[i])].insert(p.train.movie[i]);
  }
  int hits = 0;
  for (int u = 0; u < p.num_users; ++u) {
    std::vector<std::pair<float, int>> s;
    for (int m = 0; m < p.num_movies; ++m) {
      if (rated[static_cast<std::size_t>(u)].count(m)) continue;
      s.push_back({-f.users.row(u).dot(f.movies.row(m)), m});
    }
    std::partial_sort(s.begin(), s.begin() + 10, s.end());
    for (int k = 0; k < 10; ++k) hits += s[static_cast<std::size_t>(k)].second == p.held_out[u];
  }
  return static_cast<double>(hits) / p.num_users;
}

TEST(Als, RecommendsHeldOutPositivesFarBetterThanChance) {
  const Planted p = planted(1);
  auto model = make_als_model(config(), threads(2));
  const TrainReport r = model->fit(p.train, {}, p.num_users, p.num_movies);
  ASSERT_EQ(r.epochs.size(), 8u);
  EXPECT_TRUE(std::isnan(r.epochs.back().val_mse));
  // The objective falls.
  EXPECT_LT(r.epochs.back().loss, r.epochs.front().loss);
  // Chance: 10 of ~190 unrated movies, about 0.05. Within the group, 10 of
  // ~14 unrated in-group movies.
  EXPECT_GT(hit_rate(model->factors(), p), 0.5);
}

TEST(Als, ExportedShapes) {
  const Planted p = planted(2);
  auto model = make_als_model(config(), threads(1));
  model->fit(p.train, {}, p.num_users + 5, p.num_movies + 3);
  const Factors f = model->factors();
  EXPECT_EQ(f.users.rows(), p.num_users + 5);
  EXPECT_EQ(f.movies.rows(), p.num_movies + 3);
  EXPECT_EQ(f.users.cols(), 16);
  EXPECT_EQ(f.movies.cols(), 16);
  // Users and movies without interactions shrink towards zero.
  EXPECT_LT(f.users.row(p.num_users).norm(), 1e-3);
  EXPECT_LT(f.movies.row(p.num_movies).norm(), 1e-3);
}

// Each movie row is the last half-iteration's solve, so with enough CG steps
// it satisfies its normal equations against the final user vectors:
//   (X^T X + l2 I + sum_u alpha r_ui x_u x_u^T) y_i = sum_u (1 + alpha r_ui) p_ui x_u
// with p = r / the top rating (graded, flat l2). Checked in double for
// widths the fixed-width product takes (multiples of the vector width up to
// 128) and for widths it leaves to the general one.
TEST(Als, MovieRowsSolveTheirNormalEquations) {
  const Planted p = planted(7);
  std::map<std::pair<int, int>, double> rating;  // repeated pairs add
  for (std::size_t i = 0; i < p.train.size(); ++i) {
    rating[{p.train.movie[i], p.train.user[i]}] += p.train.value[i];
  }
  double top = 0;
  for (const auto& [key, r] : rating) top = std::max(top, r);
  for (const int k : {12, 16, 40, 64, 128, 136}) {
    AlsParams c = config();
    c.factors = k;
    c.epochs = 2;
    c.tolerance = 0;
    c.cg_steps = 100;
    c.l2 = 5.0;
    c.l2_frequency_exponent = 0;
    c.preference = "graded";
    auto model = make_als_model(c, threads(2));
    model->fit(p.train, {}, p.num_users, p.num_movies);
    const Factors f = model->factors();
    const Eigen::MatrixXd x = f.users.cast<double>();
    const Eigen::MatrixXd gram = x.transpose() * x;
    double worst = 0;
    for (int m = 0; m < p.num_movies; ++m) {
      Eigen::MatrixXd a = gram + c.l2 * Eigen::MatrixXd::Identity(k, k);
      Eigen::VectorXd b = Eigen::VectorXd::Zero(k);
      for (auto it = rating.lower_bound({m, 0}); it != rating.end() && it->first.first == m; ++it) {
        const Eigen::VectorXd xu = x.row(it->first.second).transpose();
        const double r = it->second;
        a += c.alpha * r * xu * xu.transpose();
        b += (1 + c.alpha * r) * std::min(1.0, r / top) * xu;
      }
      const Eigen::VectorXd y = f.movies.row(m).transpose().cast<double>();
      worst = std::max(worst, (a * y - b).norm() / std::max(b.norm(), 1e-12));
    }
    EXPECT_LT(worst, 1e-3) << k << " factors";
  }
}

TEST(Als, DeterministicForSeedAndThreads) {
  const Planted p = planted(3);
  auto run = [&](int n, std::uint64_t seed) {
    auto model = make_als_model(config(), ModelContext{.seed = seed, .threads = n});
    model->fit(p.train, {}, p.num_users, p.num_movies);
    return model->factors();
  };
  const Factors a = run(2, 11);
  const Factors b = run(2, 11);
  EXPECT_TRUE((a.users.array() == b.users.array()).all());
  EXPECT_TRUE((a.movies.array() == b.movies.array()).all());
  const Factors one = run(1, 11);  // rows are independent: thread count does not matter
  EXPECT_TRUE((a.movies.array() == one.movies.array()).all());
  const Factors other = run(2, 12);
  EXPECT_FALSE((a.movies.array() == other.movies.array()).all());
}

TEST(Als, SameModelWhateverTheRatingOrderAndRepeatedPairsAdd) {
  const Planted p = planted(5);
  auto fit = [&](const Triplets& t, double threshold, const char* preference = "binary") {
    AlsParams c = config();
    c.positive_threshold = threshold;
    c.preference = preference;
    auto model = make_als_model(c, threads(2));
    model->fit(t, {}, p.num_users, p.num_movies);
    return model->factors();
  };
  auto same = [](const Factors& a, const Factors& b) {
    return (a.users.array() == b.users.array()).all() &&
           (a.movies.array() == b.movies.array()).all();
  };
  // Stored (user, movie) order, as the pipeline passes them, and the
  // planted order (movies shuffled within each user), and reversed.
  std::vector<std::size_t> order(p.train.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  auto permuted = [&](const std::vector<std::size_t>& o) {
    Triplets t;
    for (std::size_t i : o) {
      t.user.push_back(p.train.user[i]);
      t.movie.push_back(p.train.movie[i]);
      t.value.push_back(p.train.value[i]);
    }
    return t;
  };
  std::vector<std::size_t> sorted = order;
  std::sort(sorted.begin(), sorted.end(), [&](std::size_t a, std::size_t b) {
    return std::pair(p.train.user[a], p.train.movie[a]) <
           std::pair(p.train.user[b], p.train.movie[b]);
  });
  std::vector<std::size_t> reversed(order.rbegin(), order.rend());
  const Factors planted_order = fit(p.train, 3.5);
  EXPECT_TRUE(same(planted_order, fit(permuted(sorted), 3.5)));
  EXPECT_TRUE(same(planted_order, fit(permuted(reversed), 3.5)));

  // A pair given twice is one interaction with the summed confidence:
  // 2 + 3 stars weigh alpha * 5, like one 5-star rating.
  Triplets split = permuted(sorted);
  Triplets whole = split;
  for (std::size_t i = 0; i < split.size(); ++i) {
    if (split.value[i] != 5.0f) continue;
    split.value[i] = 2.0f;
    split.user.push_back(split.user[i]);
    split.movie.push_back(split.movie[i]);
    split.value.push_back(3.0f);
  }
  EXPECT_TRUE(same(fit(whole, 0.5), fit(split, 0.5)));
  EXPECT_FALSE(same(fit(whole, 0.5), fit(whole, 3.5)));
  // Graded: the same interaction, preference 5 / the top (5) as well.
  EXPECT_TRUE(same(fit(whole, 0.5, "graded"), fit(split, 0.5, "graded")));
  EXPECT_TRUE(same(fit(p.train, 3.5, "graded"), fit(permuted(reversed), 3.5, "graded")));
}

Factors fit_with(const Triplets& t, const Planted& p, const char* preference, double alpha = 2.0) {
  AlsParams c = config();
  c.preference = preference;
  c.alpha = alpha;
  auto model = make_als_model(c, threads(2));
  model->fit(t, {}, p.num_users, p.num_movies);
  return model->factors();
}

bool same_factors(const Factors& a, const Factors& b) {
  return (a.users.array() == b.users.array()).all() && (a.movies.array() == b.movies.array()).all();
}

Triplets without_low(const Triplets& t) {
  Triplets out;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t.value[i] >= 3.5f) {
      out.user.push_back(t.user[i]);
      out.movie.push_back(t.movie[i]);
      out.value.push_back(t.value[i]);
    }
  }
  return out;
}

// binary leaves a rating below the threshold unobserved: dropping the 1-star
// ratings changes nothing. graded counts it as a weak preference (1 / 5 with
// confidence 1 + alpha): the off-group movies a user rated 1 star score above
// the off-group movies the user never rated, where binary cannot tell them
// apart.
TEST(Als, GradedPreferenceCountsLowRatingsBinaryIgnoresThem) {
  const Planted p = planted(6);
  const Factors binary = fit_with(p.train, p, "binary");
  EXPECT_TRUE(same_factors(binary, fit_with(without_low(p.train), p, "binary")));
  const Factors graded = fit_with(p.train, p, "graded");
  EXPECT_FALSE(same_factors(graded, fit_with(without_low(p.train), p, "graded")));

  // Mean score of the off-group 1-star pairs against the unrated off-group
  // pairs (a 1-star draw can land in the user's own group).
  auto gap = [&](const Factors& f) {
    std::set<std::pair<int, int>> rated;
    double low = 0;
    int n_low = 0;
    for (std::size_t i = 0; i < p.train.size(); ++i) {
      rated.insert({p.train.user[i], p.train.movie[i]});
      if (p.train.value[i] < 3.5f && p.train.movie[i] % kGroups != p.train.user[i] % kGroups) {
        low += f.users.row(p.train.user[i]).dot(f.movies.row(p.train.movie[i]));
        ++n_low;
      }
    }
    double other = 0;
    int n_other = 0;
    for (int u = 0; u < p.num_users; ++u) {
      for (int m = 0; m < p.num_movies; ++m) {
        if (m % kGroups == u % kGroups || rated.count({u, m})) continue;
        other += f.users.row(u).dot(f.movies.row(m));
        ++n_other;
      }
    }
    return low / n_low - other / n_other;
  };
  const double g = gap(graded), b = gap(binary);
  EXPECT_GT(g, 0.05) << g;
  EXPECT_LT(std::abs(b), 0.02) << b;
  // Both still rank the held-out in-group movies.
  EXPECT_GT(hit_rate(graded, p), 0.5);
}

// The graded preference is the rating over the top training rating, so the
// model does not depend on the scale: ratings doubled with alpha halved (the
// same confidences) give the same factors, bit for bit.
TEST(Als, GradedPreferenceIsRelativeToTheTopRating) {
  const Planted p = planted(7);
  Triplets doubled = p.train;
  for (float& v : doubled.value) v *= 2.0f;
  AlsParams c = config();
  c.preference = "graded";
  c.positive_threshold = 3.5;
  auto a = make_als_model(c, threads(2));
  a->fit(p.train, {}, p.num_users, p.num_movies);
  c.alpha /= 2;
  c.positive_threshold *= 2;
  auto b = make_als_model(c, threads(2));
  b->fit(doubled, {}, p.num_users, p.num_movies);
  EXPECT_TRUE(same_factors(a->factors(), b->factors()));
  // With alpha kept, the doubled ratings weigh more: the factors move.
  c = config();
  c.preference = "graded";
  auto d = make_als_model(c, threads(2));
  d->fit(doubled, {}, p.num_users, p.num_movies);
  EXPECT_FALSE(same_factors(a->factors(), d->factors()));
}

TEST(Als, ThresholdDropsEverythingIsAnInputError) {
  const Planted p = planted(4);
  for (const char* preference : {"binary", "graded"}) {
    // graded trains on every rating, but no user would have a positive to
    // be recommended from.
    AlsParams c = config();
    c.positive_threshold = 6;
    c.preference = preference;
    auto model = make_als_model(c, threads(1));
    EXPECT_THROW(model->fit(p.train, {}, p.num_users, p.num_movies), Error) << preference;
  }
  AlsParams c = config();
  c.preference = "ordinal";
  EXPECT_THROW(make_als_model(c, threads(1)), ConfigError);
  c = config();
  c.cg_steps = 0;
  EXPECT_THROW(make_als_model(c, threads(1)), ConfigError);
}

}  // namespace
}  // namespace recs
