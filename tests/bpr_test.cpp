#include "models/bpr.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <vector>

#include "models/model.h"
#include "models/registry.h"
#include "util/error.h"

namespace recs {
namespace {

TEST(BprSampler, NeverReturnsAnExcludedMovie) {
  random::Rng rng(1, random::Stream::kShuffle);
  constexpr int kMovies = 50;
  const std::vector<std::int32_t> excluded = {0, 3, 4, 5, 17, 30, 48, 49};
  std::vector<int> counts(kMovies, 0);
  constexpr int kDraws = 42000;
  for (int i = 0; i < kDraws; ++i) {
    const auto j =
        bpr::sample_negative(excluded.data(), excluded.data() + excluded.size(), kMovies, rng);
    ASSERT_GE(j, 0);
    ASSERT_LT(j, kMovies);
    ASSERT_FALSE(std::binary_search(excluded.begin(), excluded.end(), j)) << j;
    ++counts[static_cast<std::size_t>(j)];
  }
  // Uniform over the 42 others: 1000 expected each.
  for (int j = 0; j < kMovies; ++j) {
    if (std::binary_search(excluded.begin(), excluded.end(), j)) continue;
    EXPECT_GT(counts[static_cast<std::size_t>(j)], 850) << j;
    EXPECT_LT(counts[static_cast<std::size_t>(j)], 1150) << j;
  }
}

// A user who rated almost everything forces the exact complement draw.
TEST(BprSampler, DenseUsersUseTheComplement) {
  random::Rng rng(2, random::Stream::kShuffle);
  constexpr int kMovies = 1000;
  for (int keep : {0, 1, 500, 999}) {
    std::vector<std::int32_t> excluded;
    for (int j = 0; j < kMovies; ++j) {
      if (j != keep && j != (keep + 7) % kMovies) excluded.push_back(j);
    }
    std::set<std::int32_t> seen;
    for (int i = 0; i < 200; ++i) {
      seen.insert(
          bpr::sample_negative(excluded.data(), excluded.data() + excluded.size(), kMovies, rng));
    }
    EXPECT_EQ(seen, (std::set<std::int32_t>{keep, (keep + 7) % kMovies}));
  }
  std::vector<std::int32_t> all(kMovies);
  for (int j = 0; j < kMovies; ++j) all[static_cast<std::size_t>(j)] = j;
  EXPECT_EQ(bpr::sample_negative(all.data(), all.data() + all.size(), kMovies, rng), -1);
}

TEST(BprInteractions, SortedAndDistinctPerUser) {
  Triplets t;
  t.user = {1, 0, 1, 1, 2, 1};
  t.movie = {5, 2, 3, 5, 0, 1};
  t.value = {1, 1, 1, 1, 1, 1};
  const bpr::Interactions seen(t, 4);
  EXPECT_EQ(std::vector<std::int32_t>(seen.begin(0), seen.end(0)), (std::vector<std::int32_t>{2}));
  EXPECT_EQ(std::vector<std::int32_t>(seen.begin(1), seen.end(1)),
            (std::vector<std::int32_t>{1, 3, 5}));
  EXPECT_EQ(std::vector<std::int32_t>(seen.begin(2), seen.end(2)), (std::vector<std::int32_t>{0}));
  EXPECT_EQ(seen.count(3), 0u);
}

// Users in four taste groups, each liking its own 30 of 200 movies (plus a
// little noise rated below the threshold); a fifth of each user's liked
// movies is held out.
struct Planted {
  Triplets train;
  std::vector<std::vector<std::int32_t>> held_out;
  int num_users = 200;
  int num_movies = 200;
};

Planted planted(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  Planted p;
  p.held_out.resize(static_cast<std::size_t>(p.num_users));
  for (int u = 0; u < p.num_users; ++u) {
    const int group = u % 4;
    for (int j = group * 30; j < group * 30 + 30; ++j) {
      if (rng() % 2 == 0) continue;  // each user has seen half of the group's movies
      if (rng() % 5 == 0) {
        p.held_out[static_cast<std::size_t>(u)].push_back(j);
      } else {
        p.train.user.push_back(u);
        p.train.movie.push_back(j);
        p.train.value.push_back(5.0f);
      }
    }
    // Disliked movies from other groups: not positives at threshold 4.
    for (int k = 0; k < 3; ++k) {
      p.train.user.push_back(u);
      p.train.movie.push_back(static_cast<std::int32_t>(120 + rng() % 80));
      p.train.value.push_back(1.0f);
    }
  }
  return p;
}

BprParams planted_config() {
  BprParams c;
  c.factors = 8;
  c.epochs = 30;
  c.learning_rate = 0.05;
  c.l2 = 0.01;
  c.init_scale = 0.1;
  c.positive_threshold = 4.0;
  c.negatives = 2;
  return c;
}

// AUC of each user's held-out movies against the movies they never touched.
TEST(BprModel, RanksHeldOutPositivesFarAboveChance) {
  const Planted p = planted(3);
  BprModel model(planted_config(), ModelContext{});
  const TrainReport report = model.fit(p.train, Triplets{}, p.num_users, p.num_movies);
  ASSERT_EQ(report.epochs.size(), 30u);
  EXPECT_LT(report.epochs.back().loss, report.epochs.front().loss);
  EXPECT_LT(report.epochs.back().loss, 0.5);  // chance is ln 2 = 0.69
  for (const auto& e : report.epochs) EXPECT_TRUE(std::isnan(e.val_mse));

  const Factors f = model.factors();
  const bpr::Interactions seen(p.train, p.num_users);
  double auc_sum = 0;
  int users = 0;
  for (int u = 0; u < p.num_users; ++u) {
    const auto& held = p.held_out[static_cast<std::size_t>(u)];
    if (held.empty()) continue;
    long wins = 0;
    long pairs = 0;
    for (int j = 0; j < p.num_movies; ++j) {
      if (std::binary_search(seen.begin(u), seen.end(u), j) ||
          std::find(held.begin(), held.end(), j) != held.end()) {
        continue;
      }
      const float sj = f.users.row(u).dot(f.movies.row(j));
      for (auto i : held) {
        wins += f.users.row(u).dot(f.movies.row(i)) > sj ? 1 : 0;
        ++pairs;
      }
    }
    auc_sum += static_cast<double>(wins) / static_cast<double>(pairs);
    ++users;
  }
  ASSERT_GT(users, 100);
  EXPECT_GT(auc_sum / users, 0.9);
}

TEST(BprModel, ExportsFoldedBiasColumn) {
  const Planted p = planted(5);
  BprParams c = planted_config();
  c.epochs = 2;
  BprModel model(c, ModelContext{});
  model.fit(p.train, Triplets{}, p.num_users, p.num_movies);
  const Factors f = model.factors();
  ASSERT_EQ(f.users.rows(), p.num_users);
  ASSERT_EQ(f.movies.rows(), p.num_movies);
  ASSERT_EQ(f.users.cols(), c.factors + 1);
  ASSERT_EQ(f.movies.cols(), c.factors + 1);
  EXPECT_TRUE((f.users.col(c.factors).array() == 1.0f).all());
  // Movies liked by some group got positive-bias pushes; the bias column
  // therefore is not all zero.
  EXPECT_GT(f.movies.col(c.factors).cwiseAbs().maxCoeff(), 0.0f);
}

TEST(BprModel, DeterministicPerSeed) {
  const Planted p = planted(6);
  BprParams c = planted_config();
  c.epochs = 3;
  BprModel a(c, ModelContext{});
  BprModel b(c, ModelContext{});
  const auto ra = a.fit(p.train, Triplets{}, p.num_users, p.num_movies);
  const auto rb = b.fit(p.train, Triplets{}, p.num_users, p.num_movies);
  EXPECT_TRUE(a.factors().users == b.factors().users);
  EXPECT_TRUE(a.factors().movies == b.factors().movies);
  EXPECT_EQ(ra.epochs.back().loss, rb.epochs.back().loss);
  BprModel other(c, ModelContext{.seed = 7});
  other.fit(p.train, Triplets{}, p.num_users, p.num_movies);
  EXPECT_FALSE(a.factors().movies == other.factors().movies);
}

TEST(BprModel, RejectsDataWithoutPositivesAndBadConfig) {
  Triplets t;
  t.user = {0, 1};
  t.movie = {0, 1};
  t.value = {1.0f, 2.0f};
  BprParams c = planted_config();  // threshold 4
  BprModel model(c, ModelContext{});
  EXPECT_THROW(model.fit(t, Triplets{}, 2, 2), Error);
  c.negatives = 0;
  EXPECT_THROW(BprModel(c, ModelContext{}), ConfigError);
  ModelConfig by_type;  // config/config.h: no bpr section, so bpr's defaults
  by_type.type = "bpr";
  EXPECT_EQ(make_model(by_type, TrainConfig{})->type(), "bpr");
}

}  // namespace
}  // namespace recs
