// Fold-in of users the model has not seen, on planted data: the solved
// vector reproduces the planted one, fixed columns stay fixed, and implicit
// fold-in equals the closed-form weighted least squares. And each model
// type's fold-in policy, derived through the registry from that type's own
// keys.
#include "models/fold_in.h"

#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <random>

#include "config/config.h"
#include "models/registry.h"
#include "test_util.h"
#include "util/error.h"

namespace recs {
namespace {

RowMatrix normal(int rows, int cols, std::mt19937_64& rng) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  RowMatrix m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = d(rng);
  return m;
}

// Every user rated `per_user` random movies with rating u . v.
FoldInRatings planted(const RowMatrix& users, const RowMatrix& movies, int per_user,
                      std::mt19937_64& rng) {
  FoldInRatings r;
  r.indptr.push_back(0);
  std::vector<std::int32_t> all(static_cast<std::size_t>(movies.rows()));
  std::iota(all.begin(), all.end(), 0);
  for (Eigen::Index u = 0; u < users.rows(); ++u) {
    std::shuffle(all.begin(), all.end(), rng);
    std::vector<std::int32_t> pick(all.begin(), all.begin() + per_user);
    std::sort(pick.begin(), pick.end());
    for (std::int32_t m : pick) {
      r.movies.push_back(m);
      r.values.push_back(users.row(u).dot(movies.row(m)));
    }
    r.indptr.push_back(static_cast<std::int64_t>(r.movies.size()));
  }
  return r;
}

TEST(FoldIn, RecoversPlantedUsersOfARatingModel) {
  std::mt19937_64 rng(1);
  RowMatrix trained = normal(50, 8, rng);
  RowMatrix movies = normal(200, 8, rng);
  RowMatrix fresh = normal(5, 8, rng);
  FoldInOptions o;
  o.l2 = 1e-6;
  FoldInResult r = fold_in(trained, movies, planted(fresh, movies, 30, rng), o);
  ASSERT_EQ(r.users.rows(), 5);
  for (int u = 0; u < 5; ++u) {
    EXPECT_TRUE(r.solved[static_cast<std::size_t>(u)]);
    EXPECT_LT((r.users.row(u) - fresh.row(u)).norm(), 1e-3) << "user " << u;
  }
}

TEST(FoldIn, KeepsABiasModelsConstantColumnFixed) {
  // Layout of a biased model: user [p, b_u, 1], movie [q, 1, b_m].
  std::mt19937_64 rng(2);
  RowMatrix trained = normal(40, 6, rng);
  trained.col(5).setConstant(1.0f);
  RowMatrix movies = normal(150, 6, rng);
  movies.col(4).setConstant(1.0f);
  RowMatrix fresh = normal(3, 6, rng);
  fresh.col(5).setConstant(1.0f);
  EXPECT_EQ(constant_columns(trained), std::vector<int>({5}));
  FoldInOptions o;
  o.l2 = 1e-6;
  FoldInResult r = fold_in(trained, movies, planted(fresh, movies, 25, rng), o);
  for (int u = 0; u < 3; ++u) {
    EXPECT_EQ(r.users(u, 5), 1.0f);
    EXPECT_LT((r.users.row(u) - fresh.row(u)).norm(), 1e-3);
  }
}

TEST(FoldIn, ImplicitMatchesTheWeightedLeastSquares) {
  std::mt19937_64 rng(3);
  RowMatrix trained = normal(30, 4, rng);
  RowMatrix movies = normal(60, 4, rng);
  FoldInRatings r;
  r.indptr = {0, 3};
  r.movies = {2, 7, 40};
  r.values = {5.0f, 1.0f, 4.0f};  // 1.0 is below the threshold: not a positive
  FoldInOptions o;
  o.implicit = true;
  o.l2 = 0.5;
  o.alpha = 2.0;
  o.positive_threshold = 3.5;
  FoldInResult got = fold_in(trained, movies, r, o);
  ASSERT_TRUE(got.solved[0]);
  // Dense reference: confidence and preference for every movie.
  Eigen::MatrixXd y = movies.cast<double>();
  Eigen::VectorXd c = Eigen::VectorXd::Ones(60), p = Eigen::VectorXd::Zero(60);
  c(2) = 1 + 2.0 * 5.0;
  p(2) = 1;
  c(40) = 1 + 2.0 * 4.0;
  p(40) = 1;
  Eigen::MatrixXd a = y.transpose() * c.asDiagonal() * y + 0.5 * Eigen::MatrixXd::Identity(4, 4);
  Eigen::VectorXd x = a.ldlt().solve(y.transpose() * c.asDiagonal() * p);
  for (int j = 0; j < 4; ++j) EXPECT_NEAR(got.users(0, j), x(j), 1e-5);
}

// Graded preferences (model.als.preference): every rating > 0 is an interaction,
// preference r / preference_top, confidence 1 + alpha r.
TEST(FoldIn, ImplicitGradedMatchesTheWeightedLeastSquares) {
  std::mt19937_64 rng(7);
  RowMatrix trained = normal(30, 4, rng);
  RowMatrix movies = normal(60, 4, rng);
  FoldInRatings r;
  r.indptr = {0, 3, 4};
  r.movies = {2, 7, 40, 9};
  r.values = {5.0f, 1.0f, 4.0f, 2.0f};  // the second user has no positive
  FoldInOptions o;
  o.implicit = true;
  o.l2 = 0.5;
  o.alpha = 2.0;
  o.positive_threshold = 3.5;
  o.preference_top = 5.0;
  FoldInResult got = fold_in(trained, movies, r, o);
  ASSERT_TRUE(got.solved[0]);
  EXPECT_FALSE(got.solved[1]);  // nothing liked to recommend from
  EXPECT_TRUE(got.users.row(1).isZero());
  Eigen::MatrixXd y = movies.cast<double>();
  Eigen::VectorXd c = Eigen::VectorXd::Ones(60), p = Eigen::VectorXd::Zero(60);
  c(2) = 1 + 2.0 * 5.0;
  p(2) = 1;
  c(7) = 1 + 2.0 * 1.0;
  p(7) = 0.2;
  c(40) = 1 + 2.0 * 4.0;
  p(40) = 0.8;
  Eigen::MatrixXd a = y.transpose() * c.asDiagonal() * y + 0.5 * Eigen::MatrixXd::Identity(4, 4);
  Eigen::VectorXd x = a.ldlt().solve(y.transpose() * c.asDiagonal() * p);
  for (int j = 0; j < 4; ++j) EXPECT_NEAR(got.users(0, j), x(j), 1e-5);
}

// confidence_by_rating false: every positive weighs 1 + alpha.
TEST(FoldIn, ImplicitFlatConfidenceIgnoresTheRatingValue) {
  std::mt19937_64 rng(6);
  RowMatrix trained = normal(30, 4, rng);
  RowMatrix movies = normal(60, 4, rng);
  FoldInRatings r;
  r.indptr = {0, 3};
  r.movies = {2, 7, 40};
  r.values = {5.0f, 1.0f, 4.0f};
  FoldInOptions o;
  o.implicit = true;
  o.l2 = 0.5;
  o.alpha = 3.0;
  o.positive_threshold = 3.5;
  o.confidence_by_rating = false;
  FoldInResult got = fold_in(trained, movies, r, o);
  ASSERT_TRUE(got.solved[0]);
  Eigen::MatrixXd y = movies.cast<double>();
  Eigen::VectorXd c = Eigen::VectorXd::Ones(60), p = Eigen::VectorXd::Zero(60);
  c(2) = c(40) = 1 + 3.0;
  p(2) = p(40) = 1;
  Eigen::MatrixXd a = y.transpose() * c.asDiagonal() * y + 0.5 * Eigen::MatrixXd::Identity(4, 4);
  Eigen::VectorXd x = a.ldlt().solve(y.transpose() * c.asDiagonal() * p);
  for (int j = 0; j < 4; ++j) EXPECT_NEAR(got.users(0, j), x(j), 1e-5);
}

// fit_fixed_part false: a bias model's movie bias is left out of the fit
// (the free columns are solved as if it were zero) and kept in the score.
TEST(FoldIn, ImplicitCanLeaveTheFixedPartOutOfTheFit) {
  // Layout of a ranking model with a movie bias: user [p, 1], movie [q, b].
  std::mt19937_64 rng(7);
  RowMatrix trained = normal(30, 5, rng);
  trained.col(4).setConstant(1.0f);
  RowMatrix movies = normal(60, 5, rng);
  FoldInRatings r;
  r.indptr = {0, 3};
  r.movies = {2, 7, 40};
  r.values = {5.0f, 4.0f, 4.5f};
  FoldInOptions o;
  o.implicit = true;
  o.l2 = 0.5;
  o.alpha = 2.0;
  o.positive_threshold = 3.5;
  o.fit_fixed_part = false;
  FoldInResult got = fold_in(trained, movies, r, o);
  ASSERT_TRUE(got.solved[0]);
  EXPECT_EQ(got.users(0, 4), 1.0f);
  // The same solve on the taste columns alone.
  RowMatrix taste_users = trained.leftCols(4);
  RowMatrix taste_movies = movies.leftCols(4);
  FoldInResult taste = fold_in(taste_users, taste_movies, r, o);
  for (int j = 0; j < 4; ++j) EXPECT_NEAR(got.users(0, j), taste.users(0, j), 1e-6);
  // Fitted as an offset, the bias changes the solution.
  o.fit_fixed_part = true;
  FoldInResult with_bias = fold_in(trained, movies, r, o);
  EXPECT_GT((with_bias.users.row(0) - got.users.row(0)).norm(), 1e-3);
}

TEST(FoldIn, UsersWithNothingToSolveFromAreReported) {
  std::mt19937_64 rng(4);
  RowMatrix trained = normal(10, 3, rng);
  RowMatrix movies = normal(20, 3, rng);
  FoldInRatings r;
  r.indptr = {0, 0, 1};
  r.movies = {3};
  r.values = {1.0f};
  FoldInOptions o;
  o.implicit = true;
  o.positive_threshold = 3.5;  // the one rating is no positive
  FoldInResult got = fold_in(trained, movies, r, o);
  EXPECT_FALSE(got.solved[0]);
  EXPECT_FALSE(got.solved[1]);
  EXPECT_TRUE(got.users.isZero());
}

TEST(FoldIn, SameResultForOneAndTwoThreads) {
  std::mt19937_64 rng(5);
  RowMatrix trained = normal(30, 6, rng);
  RowMatrix movies = normal(100, 6, rng);
  RowMatrix fresh = normal(40, 6, rng);
  FoldInRatings r = planted(fresh, movies, 10, rng);
  FoldInOptions o;
  o.threads = 1;
  FoldInResult one = fold_in(trained, movies, r, o);
  o.threads = 2;
  FoldInResult two = fold_in(trained, movies, r, o);
  EXPECT_EQ(one.users, two.users);
}

// A config tuned for als (its section) and run with bpr: bpr's fold-in takes
// bpr's own penalty and threshold; before the registry it took model.alpha,
// which bpr never set (40, the struct default) and, in the flat form,
// whatever l2 als had been tuned with.
TEST(FoldInPolicy, BprUsesItsOwnKeys) {
  test::TempDir dir;
  test::write_file(dir / "c.yaml",
                   "model:\n  type: als\n  als:\n    l2: 15\n    alpha: 3\n"
                   "  bpr:\n    l2: 0.03\n    positive_threshold: 4\n");
  const Config c = load_config(dir / "c.yaml", {"model.type=bpr"});
  const std::vector<float> ratings = {5.0f, 1.0f, 4.0f};
  FoldInInputs in;
  in.ratings = &ratings;
  in.users = 2;
  in.threads = 3;
  const FoldInOptions o = fold_in_options(c.model, "bpr", in);
  EXPECT_TRUE(o.implicit);
  EXPECT_DOUBLE_EQ(o.l2, 0.03);
  EXPECT_DOUBLE_EQ(o.positive_threshold, 4.0);
  // bpr's own fold-in (see bpr.cpp): every positive weighs 1 + 50, the movie
  // biases stay out of the fit.
  EXPECT_DOUBLE_EQ(o.alpha, 50.0);
  EXPECT_FALSE(o.confidence_by_rating);
  EXPECT_FALSE(o.fit_fixed_part);
  EXPECT_DOUBLE_EQ(o.frequency_exponent, 0.0);
  EXPECT_DOUBLE_EQ(o.preference_top, 0.0);  // bpr folds in binary positives
  EXPECT_EQ(o.threads, 3);
  // With nothing tuned: bpr's defaults, whatever model.type says.
  const FoldInOptions d = fold_in_options(load_config({}, {"model.type=als"}).model, "bpr", in);
  EXPECT_DOUBLE_EQ(d.l2, 0.01);
  EXPECT_DOUBLE_EQ(d.positive_threshold, 3.5);
  EXPECT_DOUBLE_EQ(d.alpha, 50.0);
}

// als folds a user in as training solves a row: its confidence, its penalty
// scaled by the mean confidence sum over the stored users.
TEST(FoldInPolicy, AlsSolvesAsTrainingDoes) {
  const Config c = load_config(
      {}, {"model.type=als", "model.als.alpha=2", "model.l2=6", "model.als.preference=graded"});
  const std::vector<float> ratings = {5.0f, 1.0f, 4.0f};  // 1 is below the threshold 3.5
  FoldInInputs in;
  in.ratings = &ratings;
  in.users = 2;
  const FoldInOptions o = fold_in_options(c.model, "als", in);
  EXPECT_TRUE(o.implicit);
  EXPECT_DOUBLE_EQ(o.l2, 6.0);
  EXPECT_DOUBLE_EQ(o.alpha, 2.0);
  EXPECT_DOUBLE_EQ(o.positive_threshold, 3.5);
  EXPECT_DOUBLE_EQ(o.frequency_exponent, 0.5);
  EXPECT_TRUE(o.confidence_by_rating);
  EXPECT_TRUE(o.fit_fixed_part);
  // Graded preferences: every rating is an interaction, the preference
  // relative to the top stored rating.
  EXPECT_DOUBLE_EQ(o.preference_top, 5.0);
  EXPECT_DOUBLE_EQ(o.mean_mass, ((1 + 2 * 5.0) + (1 + 2 * 1.0) + (1 + 2 * 4.0)) / 2);
  // Binary (the default): positives only, preference 1.
  const FoldInOptions b = fold_in_options(
      load_config({}, {"model.type=als", "model.als.alpha=2", "model.als.preference=binary"}).model,
      "als", in);
  EXPECT_DOUBLE_EQ(b.preference_top, 0.0);
  EXPECT_DOUBLE_EQ(b.mean_mass, ((1 + 2 * 5.0) + (1 + 2 * 4.0)) / 2);
  // A shard's census of values gives the same.
  const std::vector<std::pair<float, std::int64_t>> census = {{5.0f, 1}, {1.0f, 1}, {4.0f, 1}};
  FoldInInputs counted;
  counted.rating_counts = &census;
  counted.users = 2;
  const FoldInOptions g = fold_in_options(c.model, "als", counted);
  EXPECT_DOUBLE_EQ(g.preference_top, 5.0);
  EXPECT_DOUBLE_EQ(g.mean_mass, o.mean_mass);
}

// Rating models: ridge least squares with score.fold_in_l2.
TEST(FoldInPolicy, RatingModelsUseTheScorePenalty) {
  const Config c = load_config({}, {"score.fold_in_l2=0.25"});
  FoldInInputs in;
  in.rating_l2 = c.score.fold_in_l2;
  for (const char* type : {"dot", "deep", "biased_mf"}) {
    const FoldInOptions o = fold_in_options(c.model, type, in);
    EXPECT_FALSE(o.implicit) << type;
    EXPECT_DOUBLE_EQ(o.l2, 0.25) << type;
  }
  EXPECT_THROW(fold_in_options(c.model, "lstm", in), ConfigError);
}

}  // namespace
}  // namespace recs
