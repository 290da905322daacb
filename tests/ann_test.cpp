// The approximate (IVF) scoring path against the exact kernel. Planted data
// are small integers, so every score is exact in float whatever the
// summation order: where ann scans everything it must equal exact bit for
// bit, ties included.
#include "scoring/ann.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <vector>

#include "data/ratings.h"
#include "scoring/topn.h"
#include "topn_fixtures.h"

namespace recs {
namespace {

using test::expect_same;
using test::from_lists;
using test::random_rated;

// `rows` vectors around `centers` integer centres (entries in [-6, 6]) with
// integer noise in [-noise, noise]: clustered, as trained vectors are.
RowMatrix planted(int rows, int cols, int centers, int noise, std::mt19937_64& rng) {
  std::uniform_int_distribution<int> center_entry(-6, 6);
  std::uniform_int_distribution<int> noise_entry(-noise, noise);
  std::uniform_int_distribution<int> which(0, centers - 1);
  RowMatrix c(centers, cols);
  for (Eigen::Index i = 0; i < c.size(); ++i) c.data()[i] = static_cast<float>(center_entry(rng));
  RowMatrix m(rows, cols);
  for (int r = 0; r < rows; ++r) {
    const int k = which(rng);
    for (int j = 0; j < cols; ++j) m(r, j) = c(k, j) + static_cast<float>(noise_entry(rng));
  }
  return m;
}

RowMatrix normal_around_centers(int rows, int cols, int centers, float spread,
                                std::mt19937_64& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> which(0, centers - 1);
  RowMatrix c(centers, cols);
  for (Eigen::Index i = 0; i < c.size(); ++i) c.data()[i] = normal(rng);
  RowMatrix m(rows, cols);
  for (int r = 0; r < rows; ++r) {
    const int k = which(rng);
    // Varied norms, as popular movies have longer vectors.
    const float scale = 0.5f + static_cast<float>(r % 7) / 4.0f;
    for (int j = 0; j < cols; ++j) m(r, j) = scale * (c(k, j) + spread * normal(rng));
  }
  return m;
}

// All blocks of the ann path gathered into one, checking the sink contract
// (ascending, contiguous, one call at a time) on the way.
TopNBlock run_ann(const RowMatrix& users, const RowMatrix& movies, const UserItems* exclude,
                  const TopNOptions& options, const AnnOptions& ann) {
  TopNBlock all;
  all.user_end = static_cast<int>(users.rows());
  all.top_n = options.top_n;
  int next_user = 0;
  score_top_n_ann(users, movies, exclude, options, ann, [&](const TopNBlock& b) {
    EXPECT_EQ(b.user_begin, next_user);
    EXPECT_GT(b.user_end, b.user_begin);
    EXPECT_EQ(b.top_n, options.top_n);
    next_user = b.user_end;
    all.items.insert(all.items.end(), b.items.begin(), b.items.end());
    all.scores.insert(all.scores.end(), b.scores.begin(), b.scores.end());
    all.counts.insert(all.counts.end(), b.counts.begin(), b.counts.end());
  });
  EXPECT_EQ(next_user, users.rows());
  return all;
}

// Mean over users of |ann top-N and exact top-N| / |exact top-N|.
double recall(const TopNBlock& got, const TopNBlock& want) {
  double sum = 0.0;
  int users = 0;
  for (std::size_t u = 0; u < want.counts.size(); ++u) {
    if (want.counts[u] == 0) continue;
    const auto first = want.items.begin() + static_cast<std::ptrdiff_t>(u * want.top_n);
    int common = 0;
    for (int k = 0; k < got.counts[u]; ++k) {
      common += std::find(first, first + want.counts[u], got.items[u * got.top_n + k]) !=
                first + want.counts[u];
    }
    sum += static_cast<double>(common) / want.counts[u];
    ++users;
  }
  return users > 0 ? sum / users : 1.0;
}

TEST(AnnTest, ScanningEveryClusterEqualsExact) {
  std::mt19937_64 rng(1);
  const RowMatrix users = planted(300, 12, 6, 2, rng);
  const RowMatrix movies = planted(700, 12, 10, 2, rng);
  const UserItems rated = random_rated(300, 700, 0.1, rng);
  for (int top_n : {1, 10, 50, 800}) {
    for (const UserItems* exclude : {static_cast<const UserItems*>(nullptr), &rated}) {
      TopNOptions options;
      options.top_n = top_n;
      AnnOptions ann;
      ann.clusters = 16;
      ann.nprobe = 16;
      ann.user_block = 64;
      SCOPED_TRACE(testing::Message() << "top_n " << top_n << " masked " << (exclude != nullptr));
      expect_same(score_top_n(users, movies, exclude, options),
                  run_ann(users, movies, exclude, options, ann));
    }
  }
}

TEST(AnnTest, TiesFollowTheExactOrder) {
  // Many movies share a vector, so many scores tie: higher score first, then
  // the smaller movie index, as in exact scoring.
  std::mt19937_64 rng(2);
  const RowMatrix distinct = planted(20, 8, 4, 1, rng);
  RowMatrix movies(400, 8);
  for (int m = 0; m < 400; ++m) movies.row(m) = distinct.row((m * 7) % 20);
  const RowMatrix users = planted(50, 8, 3, 1, rng);
  TopNOptions options;
  options.top_n = 30;
  AnnOptions ann;
  ann.clusters = 8;
  ann.nprobe = 8;
  expect_same(score_top_n(users, movies, nullptr, options),
              run_ann(users, movies, nullptr, options, ann));
}

TEST(AnnTest, NeverReturnsMaskedMovies) {
  std::mt19937_64 rng(3);
  const RowMatrix users = planted(400, 16, 8, 2, rng);
  const RowMatrix movies = planted(1500, 16, 12, 2, rng);
  const UserItems rated = random_rated(400, 1500, 0.3, rng);
  TopNOptions options;
  options.top_n = 40;
  AnnOptions ann;
  ann.nprobe = 3;
  const TopNBlock got = run_ann(users, movies, &rated, options, ann);
  for (int u = 0; u < 400; ++u) {
    const auto first = rated.indices.begin() + rated.indptr[u];
    const auto last = rated.indices.begin() + rated.indptr[u + 1];
    EXPECT_EQ(got.counts[u], options.top_n) << "user " << u;
    for (int k = 0; k < got.counts[u]; ++k) {
      const std::int32_t movie = got.items[static_cast<std::size_t>(u) * options.top_n + k];
      EXPECT_FALSE(std::binary_search(first, last, movie)) << "user " << u << " movie " << movie;
    }
  }
}

TEST(AnnTest, UsersWithAlmostEverythingRatedGetWhatIsLeft) {
  std::mt19937_64 rng(4);
  const int num_movies = 600;
  const RowMatrix users = planted(6, 10, 3, 2, rng);
  const RowMatrix movies = planted(num_movies, 10, 8, 2, rng);
  // User 0 left 3 movies, 1 left 12 (the top_n), 2 left 25, 3 rated
  // everything, 4 nothing, 5 rated every even movie.
  std::vector<std::vector<std::int32_t>> lists(6);
  for (int m = 0; m < num_movies; ++m) {
    if (m % 200 != 7) lists[0].push_back(m);
    if (m % 50 != 3) lists[1].push_back(m);
    if (m % 24 != 0) lists[2].push_back(m);
    lists[3].push_back(m);
    if (m % 2 == 0) lists[5].push_back(m);
  }
  const UserItems rated = from_lists(lists);
  TopNOptions options;
  options.top_n = 12;
  AnnOptions ann;
  ann.clusters = 24;
  ann.nprobe = 1;
  const TopNBlock got = run_ann(users, movies, &rated, options, ann);
  const TopNBlock want = score_top_n(users, movies, &rated, options);
  EXPECT_EQ(got.counts[0], 3);
  EXPECT_EQ(got.counts[1], 12);
  EXPECT_EQ(got.counts[2], 12);
  EXPECT_EQ(got.counts[3], 0);
  EXPECT_EQ(got.counts[4], 12);
  EXPECT_EQ(got.counts[5], 12);
  // Users 0 and 1 have at most top_n unrated movies left: they probe until
  // every one of them is a candidate, so they are scored exactly. User 2
  // probes until 12 of its 25 are candidates; it gets 12, not necessarily
  // the exact 12.
  for (int u : {0, 1, 3}) {
    for (int k = 0; k < want.counts[u]; ++k) {
      const std::size_t at = static_cast<std::size_t>(u) * options.top_n + k;
      EXPECT_EQ(got.items[at], want.items[at]) << "user " << u << " rank " << k;
      EXPECT_EQ(got.scores[at], want.scores[at]) << "user " << u << " rank " << k;
    }
  }
}

TEST(AnnTest, SameResultForOneAndTwoThreads) {
  std::mt19937_64 rng(5);
  const RowMatrix users = normal_around_centers(1000, 16, 10, 0.3f, rng);
  const RowMatrix movies = normal_around_centers(3000, 16, 20, 0.3f, rng);
  const UserItems rated = random_rated(1000, 3000, 0.05, rng);
  TopNOptions options;
  options.top_n = 25;
  AnnOptions ann;
  ann.nprobe = 4;
  ann.user_block = 96;
  options.threads = 1;
  const TopNBlock one = run_ann(users, movies, &rated, options, ann);
  options.threads = 2;
  const TopNBlock two = run_ann(users, movies, &rated, options, ann);
  EXPECT_EQ(one.counts, two.counts);
  EXPECT_EQ(one.items, two.items);
  EXPECT_EQ(one.scores, two.scores);
}

TEST(AnnTest, RecallOnClusteredDataGrowsWithNprobe) {
  std::mt19937_64 rng(6);
  const RowMatrix users = normal_around_centers(2000, 32, 30, 0.4f, rng);
  const RowMatrix movies = normal_around_centers(20000, 32, 60, 0.4f, rng);
  const UserItems rated = random_rated(2000, 20000, 0.005, rng);
  TopNOptions options;
  options.top_n = 100;
  const TopNBlock want = score_top_n(users, movies, &rated, options);
  // The default (tuned on ML-25M-sized ALS vectors, 0.964 there).
  const TopNBlock by_default = run_ann(users, movies, &rated, options, AnnOptions{});
  EXPECT_EQ(by_default.counts, want.counts);
  const double r_default = recall(by_default, want);
  EXPECT_GE(r_default, 0.95);
  AnnOptions narrower;
  narrower.nprobe = 7;
  const TopNBlock fewer = run_ann(users, movies, &rated, options, narrower);
  EXPECT_EQ(fewer.counts, want.counts);
  const double r_fewer = recall(fewer, want);
  EXPECT_GE(r_fewer, 0.9);
  EXPECT_GT(r_default, r_fewer);
  RecordProperty("recall_at_100_default", std::to_string(r_default));
  RecordProperty("recall_at_100_nprobe_7", std::to_string(r_fewer));
}

// Scoring through a prebuilt index, and through one rebuilt from its stored
// assignment (what the shards of a generation share), equals scoring with
// the options alone.
TEST(AnnTest, IndexFromItsAssignmentScoresTheSame) {
  std::mt19937_64 rng(11);
  const RowMatrix users = planted(300, 8, 6, 1, rng);
  const RowMatrix movies = planted(900, 8, 12, 1, rng);
  const UserItems rated = random_rated(300, 900, 0.02, rng);
  TopNOptions options;
  options.top_n = 15;
  AnnOptions ann;
  ann.nprobe = 3;
  const TopNBlock direct = run_ann(users, movies, &rated, options, ann);
  const AnnIndex built = AnnIndex::build(movies, ann, 2);
  ASSERT_EQ(built.clusters(), ann_cluster_count(900, ann));
  ASSERT_EQ(built.assignment().size(), 900u);
  const AnnIndex rebuilt = AnnIndex::from_assignment(movies, built.assignment(), built.clusters());
  for (const AnnIndex* index : {&built, &rebuilt}) {
    TopNBlock all;
    all.top_n = options.top_n;
    score_top_n_ann(users, *index, &rated, options, ann.nprobe, ann.user_block,
                    [&](const TopNBlock& b) {
                      all.items.insert(all.items.end(), b.items.begin(), b.items.end());
                      all.scores.insert(all.scores.end(), b.scores.begin(), b.scores.end());
                      all.counts.insert(all.counts.end(), b.counts.begin(), b.counts.end());
                    });
    EXPECT_EQ(all.items, direct.items);
    EXPECT_EQ(all.scores, direct.scores);
    EXPECT_EQ(all.counts, direct.counts);
  }
  std::vector<std::int32_t> bad = built.assignment();
  bad[0] = built.clusters();
  EXPECT_THROW(AnnIndex::from_assignment(movies, bad, built.clusters()), std::invalid_argument);
  bad.pop_back();
  EXPECT_THROW(AnnIndex::from_assignment(movies, bad, built.clusters()), std::invalid_argument);
}

// The calibrated nprobe is the smallest that reaches the target on the
// sample: its recall (measured again here, independently) is at least the
// target, one fewer probe falls short; a sample that is everyone has no
// sampling margin.
TEST(AnnTest, CalibrationPicksTheSmallestNprobeReachingTheTarget) {
  std::mt19937_64 rng(6);
  const RowMatrix users = normal_around_centers(1500, 32, 30, 0.4f, rng);
  const RowMatrix movies = normal_around_centers(8000, 32, 60, 0.4f, rng);
  const UserItems rated = random_rated(1500, 8000, 0.005, rng);
  TopNOptions options;
  options.top_n = 50;
  options.threads = 2;
  const TopNBlock want = score_top_n(users, movies, &rated, options);
  const AnnIndex index = AnnIndex::build(movies, AnnOptions{}, 2);
  for (const double target : {0.8, 0.95, 0.99}) {
    const AnnCalibration c =
        calibrate_nprobe(index, movies, users, &rated, options, target, users.rows());
    SCOPED_TRACE(target);
    EXPECT_EQ(c.users, 1500);
    EXPECT_DOUBLE_EQ(c.recall_low, c.recall);
    EXPECT_GE(c.recall, target);
    AnnOptions at;
    at.nprobe = c.nprobe;
    EXPECT_GE(recall(run_ann(users, movies, &rated, options, at), want), target);
    ASSERT_GT(c.nprobe, 1);
    at.nprobe = c.nprobe - 1;
    EXPECT_LT(recall(run_ann(users, movies, &rated, options, at), want), target);
    RecordProperty("nprobe_for_" + std::to_string(target), std::to_string(c.nprobe));
  }
  // A sample standing for ten times its users keeps a margin: its lower
  // bound is below its recall, and the nprobe it picks is at least as large.
  const AnnCalibration everyone =
      calibrate_nprobe(index, movies, users, &rated, options, 0.95, users.rows());
  const AnnCalibration sampled =
      calibrate_nprobe(index, movies, users, &rated, options, 0.95, 10 * users.rows());
  EXPECT_LT(sampled.recall_low, sampled.recall);
  EXPECT_GE(sampled.recall_low, 0.95);
  EXPECT_GE(sampled.nprobe, everyone.nprobe);
}

TEST(AnnTest, EmptyInputs) {
  std::mt19937_64 rng(7);
  const RowMatrix users = planted(5, 4, 2, 1, rng);
  const RowMatrix no_movies(0, 4);
  const RowMatrix no_users(0, 4);
  TopNOptions options;
  options.top_n = 3;
  const TopNBlock a = run_ann(users, no_movies, nullptr, options, AnnOptions{});
  EXPECT_EQ(a.counts, std::vector<std::int32_t>(5, 0));
  const TopNBlock b = run_ann(no_users, planted(10, 4, 2, 1, rng), nullptr, options, AnnOptions{});
  EXPECT_TRUE(b.counts.empty());
}

TEST(AnnTest, RejectsBadOptions) {
  std::mt19937_64 rng(8);
  const RowMatrix users = planted(5, 4, 2, 1, rng);
  const RowMatrix movies = planted(10, 4, 2, 1, rng);
  const RowMatrix wrong = planted(10, 3, 2, 1, rng);
  auto ignore = [](const TopNBlock&) {};
  AnnOptions ann;
  EXPECT_THROW(score_top_n_ann(users, wrong, nullptr, TopNOptions{}, ann, ignore),
               std::invalid_argument);
  ann.nprobe = 0;
  EXPECT_THROW(score_top_n_ann(users, movies, nullptr, TopNOptions{}, ann, ignore),
               std::invalid_argument);
  ann = AnnOptions{};
  ann.user_block = 0;
  EXPECT_THROW(score_top_n_ann(users, movies, nullptr, TopNOptions{}, ann, ignore),
               std::invalid_argument);
}

}  // namespace
}  // namespace recs
