// GCC 12 flags its own _mm512_undefined_ps() idiom inside Eigen's AVX-512
// kernels as maybe-uninitialised once instantiated here (a false positive).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "models/deep.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "config/config.h"
#include "models/model.h"
#include "models/registry.h"
#include "util/error.h"

namespace recs {
namespace {

double uniform(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1p-52 - 1.0; }

void fill(RowMatrix& m, std::mt19937_64& rng, double scale) {
  for (Eigen::Index i = 0; i < m.size(); ++i)
    m.data()[i] = static_cast<float>(scale * uniform(rng));
}
void fill(Eigen::RowVectorXf& v, std::mt19937_64& rng, double scale) {
  for (Eigen::Index i = 0; i < v.size(); ++i) v[i] = static_cast<float>(scale * uniform(rng));
}

// A tiny network with random non-zero parameters (biases included, so their
// gradients are exercised) and a random batch.
struct Tiny {
  static constexpr int kFactors = 3;
  static constexpr int kHidden = 4;
  static constexpr int kRows = 6;
  deep::Network net;
  RowMatrix eu{kRows, kFactors};
  RowMatrix em{kRows, kFactors};
  std::vector<float> y;

  Tiny(bool relu, std::uint64_t seed) : net(kFactors, kHidden, relu, kRows), y(kRows) {
    std::mt19937_64 rng(seed);
    for (deep::Tower* t : {&net.user, &net.movie}) {
      fill(t->w1, rng, 0.8);
      fill(t->w2, rng, 0.8);
      fill(t->b1, rng, 0.3);
      fill(t->b2, rng, 0.3);
    }
    fill(eu, rng, 1.0);
    fill(em, rng, 1.0);
    for (auto& v : y) v = static_cast<float>(uniform(rng));
  }
};

// The tower computed the textbook way, independently of Network's kernels.
RowMatrix reference_tower(const deep::Tower& t, const RowMatrix& e, bool relu) {
  auto act = [relu](const RowMatrix& z) -> RowMatrix { return relu ? z.cwiseMax(0.0f) : z; };
  RowMatrix z1 = e * t.w1;
  z1.rowwise() += t.b1;
  RowMatrix h1 = act(z1);
  RowMatrix z2 = h1 * t.w2;
  z2.rowwise() += t.b2;
  return z2;  // the output layer is linear whatever the activation
}

// Central differences of batch_gradient()'s loss against its analytic
// gradient, for every parameter and every embedding entry.
void check_gradient(bool relu) {
  Tiny tiny(relu, relu ? 11 : 12);
  auto& net = tiny.net;
  net.batch_gradient(tiny.eu, tiny.em, tiny.y.data(), Tiny::kRows);
  const deep::Tower user_grad = net.user_grad;
  const deep::Tower movie_grad = net.movie_grad;
  const RowMatrix eu_grad = net.user_emb_grad.topRows(Tiny::kRows);
  const RowMatrix em_grad = net.movie_emb_grad.topRows(Tiny::kRows);

  const float kH = relu ? 1e-3f : 1e-2f;  // small steps rarely cross a relu kink
  int checked = 0;
  auto check = [&](float* param, float analytic, const char* what, Eigen::Index i) {
    const float saved = *param;
    *param = saved + kH;
    const double up = net.batch_gradient(tiny.eu, tiny.em, tiny.y.data(), Tiny::kRows);
    *param = saved - kH;
    const double down = net.batch_gradient(tiny.eu, tiny.em, tiny.y.data(), Tiny::kRows);
    *param = saved;
    const double numeric = (up - down) / (2.0 * kH);
    EXPECT_NEAR(numeric, analytic, 2e-3 + 2e-2 * std::abs(numeric))
        << what << "[" << i << "] relu=" << relu;
    ++checked;
  };
  auto check_matrix = [&](auto& params, const auto& grads, const char* what) {
    for (Eigen::Index i = 0; i < params.size(); ++i)
      check(params.data() + i, grads.data()[i], what, i);
  };
  check_matrix(net.user.w1, user_grad.w1, "user.w1");
  check_matrix(net.user.w2, user_grad.w2, "user.w2");
  check_matrix(net.user.b1, user_grad.b1, "user.b1");
  check_matrix(net.user.b2, user_grad.b2, "user.b2");
  check_matrix(net.movie.w1, movie_grad.w1, "movie.w1");
  check_matrix(net.movie.w2, movie_grad.w2, "movie.w2");
  check_matrix(net.movie.b1, movie_grad.b1, "movie.b1");
  check_matrix(net.movie.b2, movie_grad.b2, "movie.b2");
  check_matrix(tiny.eu, eu_grad, "user embedding");
  check_matrix(tiny.em, em_grad, "movie embedding");
  EXPECT_EQ(checked, 2 * (3 * 4 + 4 * 4 + 4 + 4) + 2 * 6 * 3);
}

TEST(DeepNetwork, GradientMatchesFiniteDifferencesLinear) { check_gradient(false); }

// The same check for the ranking losses' gradients: sampled softmax (4
// users, 6 candidate movies, one of them an accidental hit of user 1's
// positive) and BPR (3 users, their positives and negatives).
void check_ranking_gradient(bool relu, bool softmax, float bpr_temperature = 0) {
  Tiny tiny(relu, relu ? 21 : 22);
  auto& net = tiny.net;
  const std::int32_t ids[Tiny::kRows] = {0, 1, 2, 3, 4, 1};
  const float log_q[Tiny::kRows] = {-1.0f, 0.5f, -0.3f, 0.0f, -2.0f, 0.5f};
  const int users = softmax ? 4 : 3;
  auto loss = [&] {
    return softmax ? net.softmax_gradient(tiny.eu, users, tiny.em, Tiny::kRows, log_q, ids, 0.5f)
                   : net.bpr_gradient(tiny.eu, tiny.em, users, nullptr, bpr_temperature);
  };
  loss();
  const deep::Tower user_grad = net.user_grad;
  const deep::Tower movie_grad = net.movie_grad;
  const RowMatrix eu_grad = net.user_emb_grad.topRows(users);
  const RowMatrix em_grad = net.movie_emb_grad.topRows(Tiny::kRows);
  const float kH = 1e-3f;
  int checked = 0;
  auto check = [&](float* param, float analytic, const char* what, Eigen::Index i) {
    const float saved = *param;
    *param = saved + kH;
    const double up = loss();
    *param = saved - kH;
    const double down = loss();
    *param = saved;
    const double numeric = (up - down) / (2.0 * kH);
    EXPECT_NEAR(numeric, analytic, 2e-3 + 2e-2 * std::abs(numeric))
        << what << "[" << i << "] relu=" << relu << " softmax=" << softmax;
    ++checked;
  };
  auto check_matrix = [&](auto& params, const auto& grads, const char* what, Eigen::Index rows) {
    for (Eigen::Index i = 0; i < rows * params.cols(); ++i)
      check(params.data() + i, grads.data()[i], what, i);
  };
  check_matrix(net.user.w1, user_grad.w1, "user.w1", net.user.w1.rows());
  check_matrix(net.user.w2, user_grad.w2, "user.w2", net.user.w2.rows());
  check_matrix(net.user.b1, user_grad.b1, "user.b1", 1);
  check_matrix(net.movie.w1, movie_grad.w1, "movie.w1", net.movie.w1.rows());
  check_matrix(net.movie.w2, movie_grad.w2, "movie.w2", net.movie.w2.rows());
  check_matrix(net.movie.b2, movie_grad.b2, "movie.b2", 1);
  check_matrix(tiny.eu, eu_grad, "user embedding", users);
  check_matrix(tiny.em, em_grad, "movie embedding", Tiny::kRows);
  EXPECT_EQ(checked, 2 * (3 * 4 + 4 * 4 + 4) + (users + 6) * 3);
}

TEST(DeepNetwork, SoftmaxGradientMatchesFiniteDifferences) {
  check_ranking_gradient(false, true);
  check_ranking_gradient(true, true);
}

TEST(DeepNetwork, BprGradientMatchesFiniteDifferences) {
  check_ranking_gradient(false, false);
  check_ranking_gradient(true, false);
  // On the cosines over a temperature, as the bpr loss trains.
  check_ranking_gradient(false, false, 0.5f);
  check_ranking_gradient(true, false, 0.5f);
}

// The accidental hit (column 5 repeats user 1's positive) is masked: moving
// that movie's embedding changes nothing.
TEST(DeepNetwork, SoftmaxMasksAccidentalHits) {
  Tiny tiny(true, 23);
  const std::int32_t ids[Tiny::kRows] = {0, 1, 2, 3, 4, 1};
  const float log_q[Tiny::kRows] = {};
  auto& net = tiny.net;
  const double before = net.softmax_gradient(tiny.eu, 2, tiny.em, Tiny::kRows, log_q, ids, 1.0f);
  EXPECT_FALSE(net.movie_emb_grad.row(5).isZero(0));  // user 0 still sees it
  const std::int32_t only_one[Tiny::kRows] = {1, 1, 1, 1, 1, 1};
  net.softmax_gradient(tiny.eu, 1, tiny.em, Tiny::kRows, log_q, only_one, 1.0f);
  // One user whose every candidate is its own positive: nothing to learn.
  EXPECT_TRUE(net.movie_emb_grad.topRows(Tiny::kRows).isZero(0));
  EXPECT_GT(before, 0);
}
TEST(DeepNetwork, GradientMatchesFiniteDifferencesRelu) { check_gradient(true); }

// The exported tower outputs equal an independent forward pass, and their dot
// equals the prediction the training step uses.
TEST(DeepNetwork, TowerOutputsMatchReferenceAndPredictions) {
  for (bool relu : {false, true}) {
    Tiny tiny(relu, 5);
    auto& net = tiny.net;
    const double loss = net.batch_gradient(tiny.eu, tiny.em, tiny.y.data(), Tiny::kRows);
    const RowMatrix hu = net.tower_output(net.user, tiny.eu);
    const RowMatrix hm = net.tower_output(net.movie, tiny.em);
    const RowMatrix ref_u = reference_tower(net.user, tiny.eu, relu);
    const RowMatrix ref_m = reference_tower(net.movie, tiny.em, relu);
    ASSERT_EQ(hu.rows(), Tiny::kRows);
    ASSERT_EQ(hu.cols(), Tiny::kHidden);
    double expected_loss = 0;
    for (int i = 0; i < Tiny::kRows; ++i) {
      for (int d = 0; d < Tiny::kHidden; ++d) {
        EXPECT_NEAR(hu(i, d), ref_u(i, d), 1e-5) << "relu=" << relu;
        EXPECT_NEAR(hm(i, d), ref_m(i, d), 1e-5) << "relu=" << relu;
      }
      const float ref_pred = ref_u.row(i).dot(ref_m.row(i));
      EXPECT_NEAR(hu.row(i).dot(hm.row(i)), net.predictions[i], 1e-5);
      EXPECT_NEAR(net.predictions[i], ref_pred, 1e-5);
      expected_loss += std::pow(ref_pred - tiny.y[static_cast<std::size_t>(i)], 2);
    }
    EXPECT_NEAR(loss, expected_loss / Tiny::kRows, 1e-5);
  }
}

TEST(DeepNetwork, TowerOutputCoversPartialChunks) {
  Tiny tiny(true, 9);
  std::mt19937_64 rng(3);
  RowMatrix emb(2 * Tiny::kRows + 1, Tiny::kFactors);  // two full chunks and one row
  fill(emb, rng, 1.0);
  const RowMatrix out = tiny.net.tower_output(tiny.net.user, emb);
  const RowMatrix ref = reference_tower(tiny.net.user, emb, true);
  ASSERT_EQ(out.rows(), emb.rows());
  EXPECT_LT((out - ref).cwiseAbs().maxCoeff(), 1e-5);
}

// Rank-3 planted ratings, as in dot_model_test.
struct Planted {
  Triplets train;
  Triplets validation;
  int num_users = 150;
  int num_movies = 80;
};

Planted planted(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  Planted p;
  constexpr int kRank = 3;
  std::vector<double> u(static_cast<std::size_t>(p.num_users * kRank));
  std::vector<double> m(static_cast<std::size_t>(p.num_movies * kRank));
  for (auto& x : u) x = uniform(rng);
  for (auto& x : m) x = uniform(rng);
  int observed = 0;
  for (int i = 0; i < p.num_users; ++i) {
    for (int j = 0; j < p.num_movies; ++j) {
      if (uniform(rng) > 0.0) continue;  // density 1/2
      double y = 0;
      for (int d = 0; d < kRank; ++d) y += u[i * kRank + d] * m[j * kRank + d];
      Triplets& t = observed++ % 10 == 0 ? p.validation : p.train;
      t.user.push_back(i);
      t.movie.push_back(j);
      t.value.push_back(static_cast<float>(y));
    }
  }
  return p;
}

double variance(const std::vector<float>& v) {
  double mean = 0;
  for (float x : v) mean += x;
  mean /= static_cast<double>(v.size());
  double var = 0;
  for (float x : v) var += (x - mean) * (x - mean);
  return var / static_cast<double>(v.size());
}

DeepParams small_config(const std::string& activation) {
  DeepParams c;
  c.activation = activation;
  c.hidden = 16;
  c.epochs = 30;
  c.learning_rate = 0.01;
  c.patience = 0;  // every epoch runs and the last one is kept, as in Keras
  // relu towers this small stay on a plateau for a good share of
  // initialisations (over seeds 1-40, 23 reach the bound below within 30
  // epochs, 24 did with the previous generator; 60 epochs do not rescue the
  // rest): this test is about learning once started, so it names a seed
  // that starts (seed 5, given in the model context below).
  return c;
}

class DeepPlanted : public ::testing::TestWithParam<std::string> {};

TEST_P(DeepPlanted, LearnsPlantedStructure) {
  const Planted p = planted(21);
  DeepModel model(small_config(GetParam()), ModelContext{.seed = 5});
  const TrainReport report = model.fit(p.train, p.validation, p.num_users, p.num_movies);
  ASSERT_EQ(report.epochs.size(), 30u);
  const double var = variance(p.validation.value);
  EXPECT_LT(report.epochs.back().val_mse, 0.3 * var) << GetParam();
  EXPECT_LT(report.epochs.back().loss, report.epochs.front().loss);
  EXPECT_NEAR(report.epochs.back().val_rmse, std::sqrt(report.epochs.back().val_mse), 1e-12);

  // The exported factors are tower outputs for every row, and they are what
  // the reported validation error was computed from.
  const Factors f = model.factors();
  EXPECT_EQ(f.users.rows(), p.num_users);
  EXPECT_EQ(f.movies.rows(), p.num_movies);
  EXPECT_EQ(f.users.cols(), 16);
  EXPECT_EQ(f.movies.cols(), 16);
  EXPECT_DOUBLE_EQ(mse(f, p.validation), report.epochs.back().val_mse);
}

INSTANTIATE_TEST_SUITE_P(Activations, DeepPlanted, ::testing::Values("linear", "relu"));

TEST(DeepModel, DeterministicPerSeed) {
  const Planted p = planted(4);
  DeepParams c = small_config("relu");
  c.epochs = 3;
  DeepModel a(c, ModelContext{});
  DeepModel b(c, ModelContext{});
  const auto ra = a.fit(p.train, p.validation, p.num_users, p.num_movies);
  const auto rb = b.fit(p.train, p.validation, p.num_users, p.num_movies);
  EXPECT_TRUE(a.factors().users == b.factors().users);
  EXPECT_TRUE(a.factors().movies == b.factors().movies);
  EXPECT_EQ(ra.epochs.back().loss, rb.epochs.back().loss);
  DeepModel other(c, ModelContext{.seed = 43});
  other.fit(p.train, p.validation, p.num_users, p.num_movies);
  EXPECT_FALSE(a.factors().users == other.factors().users);
}

// model.shuffle: false trains in the given order, so the order of the
// training ratings decides the model; with shuffling it is reshuffled anyway.
TEST(DeepModel, WithoutShuffleTheGivenOrderDecides) {
  const Planted p = planted(4);
  DeepParams c = small_config("relu");
  c.epochs = 2;
  Triplets reversed = p.train;
  std::reverse(reversed.user.begin(), reversed.user.end());
  std::reverse(reversed.movie.begin(), reversed.movie.end());
  std::reverse(reversed.value.begin(), reversed.value.end());
  auto train = [&](bool shuffle, const Triplets& t) {
    DeepParams mc = c;
    mc.shuffle = shuffle;
    DeepModel m(mc, ModelContext{});
    m.fit(t, p.validation, p.num_users, p.num_movies);
    return m.factors();
  };
  const Factors fixed = train(false, p.train);
  EXPECT_TRUE(fixed.users == train(false, p.train).users);
  EXPECT_FALSE(fixed.users == train(false, reversed).users);
  EXPECT_FALSE(fixed.users == train(true, p.train).users);
}

// Deferred Adam on the embeddings follows dense Adam's trajectory.
TEST(DeepModel, DeferredAdamMatchesDense) {
  const Planted p = planted(8);
  DeepParams c = small_config("linear");
  c.epochs = 3;
  DeepModelOptions dense_opt;
  dense_opt.adam = AdamMode::kDense;
  DeepModelOptions deferred_opt;
  deferred_opt.adam = AdamMode::kDeferred;
  DeepModel dense(c, ModelContext{}, dense_opt);
  DeepModel deferred(c, ModelContext{}, deferred_opt);
  const auto rd = dense.fit(p.train, p.validation, p.num_users, p.num_movies);
  const auto rl = deferred.fit(p.train, p.validation, p.num_users, p.num_movies);
  EXPECT_EQ(dense.adam_mode_used(), AdamMode::kDense);
  EXPECT_EQ(deferred.adam_mode_used(), AdamMode::kDeferred);
  EXPECT_NEAR(rd.epochs.back().val_mse, rl.epochs.back().val_mse, 1e-3);
  EXPECT_LT((dense.factors().users - deferred.factors().users).cwiseAbs().maxCoeff(), 1e-2);
}

// With patience > 0 and a validation set, training stops once the
// validation error has not improved for `patience` epochs and the model of
// the best epoch is kept (Keras's EarlyStopping with restore_best_weights).
TEST(DeepModel, EarlyStoppingKeepsTheBestEpoch) {
  Planted p = planted(5);
  // Noisy training targets and a high rate, so the validation error turns up.
  std::mt19937_64 noise(17);
  for (auto& y : p.train.value) y += static_cast<float>(uniform(noise));
  DeepParams c = small_config("relu");
  c.epochs = 40;
  c.learning_rate = 0.03;
  DeepModel full(c, ModelContext{});
  const TrainReport all = full.fit(p.train, p.validation, p.num_users, p.num_movies);
  ASSERT_EQ(all.epochs.size(), 40u);

  // Where patience 2 must stop, from the full run's curve.
  constexpr int kPatience = 2;
  int best_epoch = 0;
  double best = std::numeric_limits<double>::infinity();
  int stop = 0;
  for (const auto& e : all.epochs) {
    if (e.val_mse < best) {
      best = e.val_mse;
      best_epoch = e.epoch;
    } else if (e.epoch - best_epoch >= kPatience) {
      stop = e.epoch;
      break;
    }
  }
  ASSERT_GT(stop, 0) << "the validation error never stalled; the test needs overfitting";
  ASSERT_LT(best_epoch, stop);

  c.patience = kPatience;
  DeepModel early(c, ModelContext{});
  const TrainReport r = early.fit(p.train, p.validation, p.num_users, p.num_movies);
  ASSERT_EQ(r.epochs.size(), static_cast<std::size_t>(stop));
  for (std::size_t i = 0; i < r.epochs.size(); ++i) {
    EXPECT_EQ(r.epochs[i].val_mse, all.epochs[i].val_mse) << "epoch " << i + 1;
  }
  // The kept model is the best epoch's, not the last one's.
  EXPECT_DOUBLE_EQ(mse(early.factors(), p.validation), best);
  EXPECT_NE(mse(early.factors(), p.validation), r.epochs.back().val_mse);

  // Without a validation set there is nothing to stop on: every epoch runs.
  DeepModel blind(c, ModelContext{});
  EXPECT_EQ(blind.fit(p.train, Triplets{}, p.num_users, p.num_movies).epochs.size(), 40u);
}

TEST(DeepModel, TutorialDefaultsAndBadConfig) {
  const DeepParams defaults = deep::resolve_defaults(DeepParams{});
  EXPECT_EQ(defaults.factors, 5);
  EXPECT_EQ(defaults.epochs, 3);
  EXPECT_EQ(defaults.hidden, 100);
  EXPECT_EQ(defaults.activation, "linear");
  EXPECT_EQ(defaults.patience, 0);
  DeepParams bad;
  bad.activation = "tanh";
  EXPECT_THROW(DeepModel(bad, ModelContext{}), ConfigError);
  bad.activation = "relu";
  bad.hidden = -1;
  EXPECT_THROW(DeepModel(bad, ModelContext{}), ConfigError);
  bad.hidden = 0;
  bad.loss = "hinge";
  EXPECT_THROW(DeepModel(bad, ModelContext{}), ConfigError);
  ModelConfig c;
  c.type = "deep";
  EXPECT_EQ(make_model(c, TrainConfig{})->type(), "deep");
}

// Groups planted for ranking: users of group g rate the movies of group g
// 4-5 stars and a few others 1-2; one loved movie per user is held out.
struct Groups {
  static constexpr int kUsers = 200, kMovies = 120, kGroups = 4;
  Triplets train;
  std::vector<int> held_out;
};

Groups groups(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  Groups p;
  for (int u = 0; u < Groups::kUsers; ++u) {
    std::vector<int> own, other;
    for (int m = 0; m < Groups::kMovies; ++m)
      (m % Groups::kGroups == u % 4 ? own : other).push_back(m);
    std::shuffle(own.begin(), own.end(), rng);
    std::shuffle(other.begin(), other.end(), rng);
    p.held_out.push_back(own[0]);
    std::vector<std::pair<int, float>> rows;
    for (int i = 1; i <= 12; ++i)
      rows.emplace_back(own[static_cast<std::size_t>(i)], i % 2 ? 5.0f : 4.0f);
    for (int i = 0; i < 4; ++i) rows.emplace_back(other[static_cast<std::size_t>(i)], 1.5f);
    std::sort(rows.begin(), rows.end());
    for (auto [m, r] : rows) {
      p.train.user.push_back(u);
      p.train.movie.push_back(m);
      p.train.value.push_back(r);
    }
  }
  return p;
}

DeepParams ranking_config(const std::string& loss) {
  DeepParams c;
  c.loss = loss;
  c.factors = 8;
  c.hidden = 16;
  c.epochs = 30;
  c.batch_size = 64;
  c.learning_rate = 0.01;
  c.members = 1;  // one pair of towers; MembersAreSeededTowersSideBySide tests more
  return c;
}

// Share of users whose held-out movie scores above every movie they did not
// rate in its group's complement, i.e. the planted group is what ranks.
double group_hit_rate(const Factors& f, const Groups& p) {
  int hits = 0;
  for (int u = 0; u < Groups::kUsers; ++u) {
    const float own = f.users.row(u).dot(f.movies.row(p.held_out[static_cast<std::size_t>(u)]));
    int above = 0;
    for (int m = 0; m < Groups::kMovies; ++m) {
      if (m % Groups::kGroups != u % Groups::kGroups && f.users.row(u).dot(f.movies.row(m)) > own) {
        ++above;
      }
    }
    hits += above == 0;
  }
  return static_cast<double>(hits) / Groups::kUsers;
}

class DeepRanking : public ::testing::TestWithParam<std::string> {};

TEST_P(DeepRanking, RanksThePlantedGroupsFirst) {
  const Groups p = groups(3);
  DeepModel model(ranking_config(GetParam()), ModelContext{.seed = 1});
  const TrainReport r = model.fit(p.train, Triplets{}, Groups::kUsers, Groups::kMovies);
  ASSERT_EQ(r.epochs.size(), 30u);
  EXPECT_LT(r.epochs.back().loss, r.epochs.front().loss);
  EXPECT_TRUE(std::isnan(r.epochs.back().val_mse));  // no rating scale to report
  const Factors f = model.factors();
  ASSERT_EQ(f.users.rows(), Groups::kUsers);
  ASSERT_EQ(f.movies.cols(), 16 + 1);
  // Chance is about (1/4)^90 for a held-out movie to beat all 90 others.
  EXPECT_GT(group_hit_rate(f, p), 0.9) << GetParam();

  DeepModel again(ranking_config(GetParam()), ModelContext{.seed = 1});
  again.fit(p.train, Triplets{}, Groups::kUsers, Groups::kMovies);
  EXPECT_TRUE(again.factors().users == f.users && again.factors().movies == f.movies);
}

INSTANTIATE_TEST_SUITE_P(Losses, DeepRanking, ::testing::Values("softmax", "bpr"));

// softmax exports unit movie vectors and user vectors of length 1 /
// temperature: scores are the trained logits' cosines over the temperature.
TEST(DeepRanking, BothLossesExportCosinesOverTheTemperature) {
  const Groups p = groups(4);
  for (const char* loss : {"softmax", "bpr"}) {
    DeepParams c = ranking_config(loss);
    c.epochs = 2;
    c.temperature = 0.25;
    DeepModel model(c, ModelContext{});
    model.fit(p.train, Triplets{}, Groups::kUsers, Groups::kMovies);
    const Factors f = model.factors();
    ASSERT_EQ(f.users.cols(), 16 + 1) << loss;  // the tower outputs, then the bias's column
    EXPECT_LT((f.movies.leftCols(16).rowwise().norm().array() - 1.0f).abs().maxCoeff(), 1e-4)
        << loss;
    EXPECT_LT((f.users.leftCols(16).rowwise().norm().array() - 4.0f).abs().maxCoeff(), 1e-3)
        << loss;
    EXPECT_TRUE((f.users.col(16).array() == 1.0f).all()) << loss;
    EXPECT_FALSE(f.movies.col(16).isZero()) << loss;  // the learned biases
  }
}

// An ensemble's vectors are its members' side by side, member e trained from
// seed + e exactly as a one-member model of that seed, the users' divided by
// the count: a score is the members' mean logit.
TEST(DeepRanking, MembersAreSeededTowersSideBySide) {
  const Groups p = groups(6);
  for (const char* loss : {"softmax", "bpr"}) {
    DeepParams c = ranking_config(loss);
    c.epochs = 3;
    auto trained = [&](int members, std::uint64_t seed) {
      c.members = members;
      DeepModel m(c, ModelContext{.seed = seed});
      m.fit(p.train, Triplets{}, Groups::kUsers, Groups::kMovies);
      return m.factors();
    };
    const Factors a = trained(1, 7);
    const Factors b = trained(1, 8);
    const Factors e = trained(2, 7);
    ASSERT_EQ(e.users.cols(), 2 * (16 + 1)) << loss;
    ASSERT_EQ(e.movies.cols(), 2 * (16 + 1)) << loss;
    EXPECT_FALSE(a.movies == b.movies) << loss;
    EXPECT_TRUE(e.users.leftCols(17) == a.users / 2.0f) << loss;
    EXPECT_TRUE(e.users.rightCols(17) == b.users / 2.0f) << loss;
    EXPECT_TRUE(e.movies.leftCols(17) == a.movies) << loss;
    EXPECT_TRUE(e.movies.rightCols(17) == b.movies) << loss;
    const float mean =
        0.5f * (a.users.row(3).dot(a.movies.row(5)) + b.users.row(3).dot(b.movies.row(5)));
    EXPECT_NEAR(e.users.row(3).dot(e.movies.row(5)), mean, 1e-4f) << loss;
  }
}

// Passes by data size: the members share the budget, at most 30 in all.
TEST(DeepRanking, MembersShareThePassesByDataSize) {
  const Groups p = groups(7);
  DeepParams c = ranking_config("softmax");
  c.epochs = 0;
  for (const int members : {1, 2}) {
    c.members = members;
    DeepModel m(c, ModelContext{});
    const TrainReport r = m.fit(p.train, Triplets{}, Groups::kUsers, Groups::kMovies);
    EXPECT_EQ(r.epochs.size(), static_cast<std::size_t>(30 / members));
  }
}

TEST(DeepRanking, NoPositiveIsAnInputError) {
  const Groups p = groups(5);
  DeepParams c = ranking_config("bpr");
  c.positive_threshold = 6;
  DeepModel model(c, ModelContext{});
  try {
    model.fit(p.train, Triplets{}, Groups::kUsers, Groups::kMovies);
    FAIL() << "expected an input error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kInput);
  }
}

// Keys left at 0 / auto take the loss's defaults; the tutorial's with mse.
TEST(DeepModel, DefaultsDependOnTheLoss) {
  DeepParams p;
  const DeepParams mse = deep::resolve_defaults(p);
  EXPECT_EQ(mse.factors, 5);
  EXPECT_EQ(mse.epochs, 3);
  EXPECT_DOUBLE_EQ(mse.learning_rate, 0.001);
  EXPECT_EQ(mse.batch_size, 32);
  EXPECT_EQ(mse.hidden, 100);
  EXPECT_EQ(mse.activation, "linear");
  EXPECT_EQ(mse.l2, 0.0);
  EXPECT_EQ(mse.members, 1);
  DeepParams two = p;
  two.members = 2;  // an ensemble is for the ranking losses only
  EXPECT_THROW(DeepModel(two, ModelContext{}), ConfigError);
  p.loss = "softmax";
  const DeepParams rank = deep::resolve_defaults(p);
  EXPECT_GT(rank.l2, 0.0);
  EXPECT_GT(rank.factors, 5);
  EXPECT_GT(rank.batch_size, 32);
  EXPECT_EQ(rank.activation, "relu");
  EXPECT_EQ(rank.members, 2);
  DeepParams pairwise = p;
  pairwise.loss = "bpr";
  EXPECT_EQ(deep::resolve_defaults(pairwise).members, 1);
  p.factors = 7;
  p.activation = "linear";
  EXPECT_EQ(deep::resolve_defaults(p).factors, 7);
  EXPECT_EQ(deep::resolve_defaults(p).activation, "linear");

  // The loss decides the kind: a ranking deep model trains on every rating,
  // reports no RMSE, and needs a positive to be scored.
  const Config tutorial = load_config({}, {"model.type=deep"});
  EXPECT_TRUE(is_rating_model(tutorial.model));
  EXPECT_FALSE(signal_rule(tutorial.model, "deep").needs_positive);
  const Config ranking = load_config({}, {"model.type=deep", "model.loss=softmax"});
  EXPECT_FALSE(is_rating_model(ranking.model));
  EXPECT_TRUE(signal_rule(ranking.model, "deep").needs_positive);
  EXPECT_TRUE(fold_in_options(ranking.model, "deep", FoldInInputs{}).implicit);
  EXPECT_FALSE(fold_in_options(tutorial.model, "deep", FoldInInputs{}).implicit);
}

}  // namespace
}  // namespace recs
