// GCC 12 flags its own _mm512_undefined_ps() idiom inside Eigen's AVX-512
// kernels as maybe-uninitialised once instantiated here (a false positive).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "models/biased_mf.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "models/model.h"
#include "util/error.h"

namespace recs {
namespace {

double uniform(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1p-52 - 1.0; }

// Ratings 3 + user bias + movie bias + u.v of random rank-3 vectors, each pair
// observed with probability `density`; every tenth observed pair validates.
struct Planted {
  Triplets train;
  Triplets validation;
  int num_users = 300;
  int num_movies = 200;
};

Planted planted(std::uint64_t seed, double density = 0.3) {
  std::mt19937_64 rng(seed);
  Planted p;
  constexpr int kRank = 3;
  std::vector<double> u(static_cast<std::size_t>(p.num_users * kRank));
  std::vector<double> m(static_cast<std::size_t>(p.num_movies * kRank));
  std::vector<double> bu(static_cast<std::size_t>(p.num_users));
  std::vector<double> bm(static_cast<std::size_t>(p.num_movies));
  for (auto& x : u) x = uniform(rng);
  for (auto& x : m) x = uniform(rng);
  for (auto& x : bu) x = 0.5 * uniform(rng);
  for (auto& x : bm) x = 0.5 * uniform(rng);
  int observed = 0;
  for (int i = 0; i < p.num_users; ++i) {
    for (int j = 0; j < p.num_movies; ++j) {
      if ((uniform(rng) + 1.0) / 2.0 >= density) continue;
      double y = 3.0 + bu[i] + bm[j];
      for (int d = 0; d < kRank; ++d) y += u[i * kRank + d] * m[j * kRank + d];
      Triplets& t = observed++ % 10 == 0 ? p.validation : p.train;
      t.user.push_back(i);
      t.movie.push_back(j);
      t.value.push_back(static_cast<float>(y));
    }
  }
  return p;
}

double mse_of(const Factors& f, const Triplets& t) {
  double s = 0;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const double e = f.users.row(t.user[i]).dot(f.movies.row(t.movie[i])) - t.value[i];
    s += e * e;
  }
  return s / static_cast<double>(t.size());
}

double variance(const Triplets& t) {
  const double mean = std::accumulate(t.value.begin(), t.value.end(), 0.0) / t.size();
  double s = 0;
  for (float v : t.value) s += (v - mean) * (v - mean);
  return s / t.size();
}

BiasedMfParams config() {
  BiasedMfParams c;
  c.factors = 8;
  c.epochs = 60;
  c.learning_rate = 0.02;
  c.l2 = 0.01;
  c.init_scale = 0.1;
  c.patience = 3;
  return c;
}

// Seed 7 on n threads.
ModelContext threads(int n) { return ModelContext{.seed = 7, .threads = n}; }

TEST(BiasedMf, BeatsGlobalMeanOnHeldOutData) {
  const Planted p = planted(1);
  auto model = make_biased_mf_model(config(), threads(2));
  const TrainReport report = model->fit(p.train, p.validation, p.num_users, p.num_movies);
  ASSERT_FALSE(report.epochs.empty());
  const double baseline = variance(p.validation);  // about the global-mean MSE
  const double got = mse_of(model->factors(), p.validation);
  EXPECT_LT(got, 0.25 * baseline) << "baseline " << baseline;
  // The reported figure is the exported model's.
  double best = INFINITY;
  for (const auto& e : report.epochs) best = std::min(best, e.val_mse);
  EXPECT_NEAR(got, best, 1e-4);
  EXPECT_LT(report.epochs.back().loss, report.epochs.front().loss);
}

TEST(BiasedMf, LearnsWhenMoviesOutnumberUsers) {
  // Swapping the roles makes the movie side the larger one, so the blocks are
  // ordered by movie row instead of user row; the export must still map every
  // internal row back to its id.
  Planted p = planted(6);
  std::swap(p.train.user, p.train.movie);
  std::swap(p.validation.user, p.validation.movie);
  std::swap(p.num_users, p.num_movies);
  auto model = make_biased_mf_model(config(), threads(2));
  const TrainReport report = model->fit(p.train, p.validation, p.num_users, p.num_movies);
  const double got = mse_of(model->factors(), p.validation);
  EXPECT_LT(got, 0.25 * variance(p.validation));
  double best = INFINITY;
  for (const auto& e : report.epochs) best = std::min(best, e.val_mse);
  EXPECT_NEAR(got, best, 1e-4);
}

TEST(BiasedMf, AdamAlsoLearns) {
  const Planted p = planted(2);
  BiasedMfParams c = config();
  c.optimizer = "adam";
  c.learning_rate = 0.01;
  auto model = make_biased_mf_model(c, threads(2));
  model->fit(p.train, p.validation, p.num_users, p.num_movies);
  EXPECT_LT(mse_of(model->factors(), p.validation), 0.4 * variance(p.validation));
}

TEST(BiasedMf, EarlyStoppingKeepsTheBestEpoch) {
  // Far more factors than the data supports and no penalty: validation error
  // turns up, so patience must stop training and restore the best epoch.
  Planted p = planted(3, 0.08);
  BiasedMfParams c = config();
  c.factors = 64;
  c.l2 = 0;
  c.epochs = 300;
  c.patience = 2;
  c.learning_rate = 0.05;
  auto model = make_biased_mf_model(c, threads(2));
  const TrainReport r = model->fit(p.train, p.validation, p.num_users, p.num_movies);
  ASSERT_LT(r.epochs.size(), 300u) << "did not stop early";
  std::size_t best = 0;
  for (std::size_t i = 0; i < r.epochs.size(); ++i) {
    if (r.epochs[i].val_rmse < r.epochs[best].val_rmse) best = i;
  }
  EXPECT_EQ(r.epochs.size(), best + 1 + 2) << "stopped exactly `patience` epochs after the best";
  EXPECT_NEAR(mse_of(model->factors(), p.validation), r.epochs[best].val_mse, 1e-5);
  EXPECT_LT(r.epochs[best].val_mse, r.epochs.back().val_mse);
}

TEST(BiasedMf, BiasesAreFoldedIntoTheDotProduct) {
  // With factors = 1 the export is [p, mu + b_u, 1] . [q, 1, b_i].
  const Planted p = planted(4);
  BiasedMfParams c = config();
  c.factors = 1;
  auto model = make_biased_mf_model(c, threads(1));
  model->fit(p.train, {}, p.num_users, p.num_movies);
  const Factors f = model->factors();
  ASSERT_EQ(f.users.cols(), 3);
  ASSERT_EQ(f.movies.cols(), 3);
  ASSERT_EQ(f.users.rows(), p.num_users);
  ASSERT_EQ(f.movies.rows(), p.num_movies);
  for (int u = 0; u < p.num_users; ++u) EXPECT_EQ(f.users(u, 2), 1.0f);
  for (int i = 0; i < p.num_movies; ++i) EXPECT_EQ(f.movies(i, 1), 1.0f);
  // The bias columns carry the planted offsets: the global mean (~3) lies in
  // the user column, and the per-row spread is that of the planted biases.
  const double user_bias_mean = f.users.col(1).cast<double>().mean();
  EXPECT_NEAR(user_bias_mean, 3.0, 0.3);
  for (int u = 0; u < 3; ++u) {
    for (int i = 0; i < 3; ++i) {
      const double expected =
          static_cast<double>(f.users(u, 0)) * f.movies(i, 0) + f.users(u, 1) + f.movies(i, 2);
      EXPECT_NEAR(f.users.row(u).dot(f.movies.row(i)), expected, 1e-5);
    }
  }
  // Biases alone already explain most of the planted variance.
  EXPECT_LT(mse_of(f, p.validation), 0.8 * variance(p.validation));
}

TEST(BiasedMf, DeterministicForSeedAndThreads) {
  const Planted p = planted(5);
  BiasedMfParams c = config();
  c.epochs = 5;
  auto run = [&](int n, std::uint64_t seed) {
    auto model = make_biased_mf_model(c, ModelContext{.seed = seed, .threads = n});
    model->fit(p.train, p.validation, p.num_users, p.num_movies);
    return model->factors();
  };
  const Factors a = run(2, 7);
  const Factors b = run(2, 7);
  EXPECT_TRUE((a.users.array() == b.users.array()).all());
  EXPECT_TRUE((a.movies.array() == b.movies.array()).all());
  // The fixed diagonal schedule also makes the result independent of the
  // thread count (up to 24 threads).
  const Factors one = run(1, 7);
  EXPECT_TRUE((a.users.array() == one.users.array()).all());
  const Factors other = run(2, 8);
  EXPECT_FALSE((a.users.array() == other.users.array()).all());
}

TEST(BiasedMf, RejectsBadConfig) {
  BiasedMfParams c = config();
  c.optimizer = "rmsprop";
  EXPECT_THROW(make_biased_mf_model(c, threads(1)), ConfigError);
  c = config();
  c.learning_rate = 0;
  EXPECT_THROW(make_biased_mf_model(c, threads(1)), ConfigError);
  auto model = make_biased_mf_model(config(), threads(1));
  EXPECT_THROW(model->fit(Triplets{}, Triplets{}, 3, 3), Error);
}

}  // namespace
}  // namespace recs
