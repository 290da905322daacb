// SVD++ (models/svdpp.cpp): learns planted ratings whose user part comes from
// which movies a user rated, exports vectors that reproduce its predictions,
// and gives the same bits on any thread count.
#include "models/svdpp.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "models/biased_mf.h"
#include "models/registry.h"
#include "util/error.h"

namespace recs {
namespace {

constexpr int kUsers = 300, kMovies = 120;

// Movies come in two kinds; a user's taste is the share of kind-1 movies
// among the ones they rated (the implicit signal SVD++ models), and the
// rating is 3 + 1.5 (taste - 1/2) * (kind ? 1 : -1) plus noise.
struct Data {
  Triplets train, validation;
};

Data planted(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::normal_distribution<double> noise(0.0, 0.2);
  Data d;
  int k = 0;
  for (int u = 0; u < kUsers; ++u) {
    const double lean = unit(rng);
    std::vector<int> rated;
    for (int m = 0; m < kMovies; ++m) {
      const bool kind = m % 2 == 1;
      if (unit(rng) < 0.3 * (kind ? lean : 1 - lean) + 0.05) rated.push_back(m);
    }
    int ones = 0;
    for (int m : rated) ones += m % 2;
    const double taste = rated.empty() ? 0.5 : static_cast<double>(ones) / rated.size();
    for (int m : rated) {
      const double y = 3 + 3.0 * (taste - 0.5) * (m % 2 ? 1 : -1) + noise(rng);
      Triplets& t = k++ % 10 == 0 ? d.validation : d.train;
      t.user.push_back(u);
      t.movie.push_back(m);
      t.value.push_back(static_cast<float>(y));
    }
  }
  return d;
}

SvdppParams small() {
  SvdppParams p;
  p.factors = 8;
  p.epochs = 60;
  p.learning_rate = 0.01;
  return p;
}

double variance(const std::vector<float>& v) {
  double mean = 0, var = 0;
  for (float x : v) mean += x / static_cast<double>(v.size());
  for (float x : v) var += (x - mean) * (x - mean) / static_cast<double>(v.size());
  return var;
}

TEST(Svdpp, LearnsPlantedRatingsAndExportsItsPredictions) {
  const Data d = planted(1);
  auto model = make_svdpp_model(small(), ModelContext{.seed = 3, .threads = 2});
  const TrainReport r = model->fit(d.train, d.validation, kUsers, kMovies);
  ASSERT_FALSE(r.epochs.empty());
  const int kept = r.kept_epoch > 0 ? r.kept_epoch : static_cast<int>(r.epochs.size());
  const double val = r.epochs[static_cast<std::size_t>(kept - 1)].val_mse;
  EXPECT_LT(val, 0.35 * variance(d.validation.value));
  const Factors f = model->factors();
  ASSERT_EQ(f.users.cols(), 8 + 2);
  ASSERT_EQ(f.movies.rows(), kMovies);
  // The exported vectors are the kept epoch's predictions.
  EXPECT_NEAR(mse(f, d.validation), val, 1e-4);
  // Bias columns: users [.., mu + b_u, 1], movies [.., 1, b_i].
  EXPECT_TRUE((f.users.col(9).array() == 1.0f).all());
  EXPECT_TRUE((f.movies.col(8).array() == 1.0f).all());
}

// The implicit factors carry the signal here: without their steps
// (implicit_learning_rate 0) the fit is worse.
TEST(Svdpp, ImplicitFactorsHelp) {
  const Data d = planted(2);
  auto best = [&](double ylr) {
    SvdppParams p = small();
    p.implicit_learning_rate = ylr;
    auto m = make_svdpp_model(p, ModelContext{.seed = 3, .threads = 2});
    m->fit(d.train, d.validation, kUsers, kMovies);
    return mse(m->factors(), d.validation);
  };
  EXPECT_LT(best(SvdppParams{}.implicit_learning_rate), best(0.0) - 0.01);
}

TEST(Svdpp, SameBitsOnAnyThreadCount) {
  const Data d = planted(3);
  SvdppParams p = small();
  p.epochs = 5;
  auto one = make_svdpp_model(p, ModelContext{.seed = 9, .threads = 1});
  auto two = make_svdpp_model(p, ModelContext{.seed = 9, .threads = 2});
  one->fit(d.train, d.validation, kUsers, kMovies);
  two->fit(d.train, d.validation, kUsers, kMovies);
  EXPECT_TRUE(one->factors().users == two->factors().users);
  EXPECT_TRUE(one->factors().movies == two->factors().movies);
  auto other = make_svdpp_model(p, ModelContext{.seed = 10, .threads = 2});
  other->fit(d.train, d.validation, kUsers, kMovies);
  EXPECT_FALSE(one->factors().users == other->factors().users);
}

TEST(Svdpp, IsARatingModelInTheRegistry) {
  EXPECT_TRUE(is_rating_model("svdpp"));
  ModelConfig c;
  c.type = "svdpp";
  EXPECT_EQ(make_model(c, TrainConfig{})->type(), "svdpp");
  SvdppParams bad;
  bad.factors = 0;
  EXPECT_THROW(make_svdpp_model(bad, ModelContext{}), ConfigError);
}

// The checks svdpp shares with biased_mf (models/block_grid.h) and its own.
TEST(Svdpp, RejectsBadKeysLikeBiasedMf) {
  auto message = [](const SvdppParams& p, int threads = 0) {
    try {
      make_svdpp_model(p, ModelContext{.threads = threads});
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  SvdppParams p;
  EXPECT_EQ(message(p), "(accepted)");
  p.epochs = 0;
  EXPECT_EQ(message(p), "model.epochs must be at least 1");
  p = SvdppParams{};
  p.learning_rate = 0;
  EXPECT_EQ(message(p),
            "model.learning_rate must be positive, model.init_scale and model.l2 non-negative");
  p = SvdppParams{};
  p.patience = -1;
  EXPECT_EQ(message(p), "model.patience must not be negative");
  EXPECT_EQ(message(SvdppParams{}, -1), "train.threads must not be negative");
  p = SvdppParams{};
  p.implicit_l2 = -1;
  EXPECT_EQ(message(p), "model.implicit_learning_rate and model.implicit_l2 must not be negative");
  BiasedMfParams b;
  b.epochs = 0;
  try {
    make_biased_mf_model(b, ModelContext{});
    ADD_FAILURE() << "biased_mf accepted epochs 0";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "model.epochs must be at least 1");
  }
  b = BiasedMfParams{};
  b.optimizer = "lbfgs";
  EXPECT_THROW(make_biased_mf_model(b, ModelContext{}), ConfigError);
  EXPECT_EQ(make_biased_mf_model(BiasedMfParams{}, ModelContext{})->type(), "biased_mf");
}

}  // namespace
}  // namespace recs
