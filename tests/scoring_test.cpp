// The scoring kernel against a brute-force reference. Most data sets are
// small integers or coarse dyadic fractions so that every score is exact in
// float whatever the summation order, which makes "the same top-N as sorting
// all scores" checkable bit for bit, ties included.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench/score.h"
#include "data/ratings.h"
#include "scoring/tile_product.h"
#include "scoring/topn.h"
#include "topn_fixtures.h"
#include "util/error.h"

namespace {

using recs::RowMatrix;
using recs::TopNBlock;
using recs::TopNOptions;
using recs::UserItems;
using recs::test::expect_same;
using recs::test::from_lists;
using recs::test::normal_matrix;
using recs::test::random_rated;

// Entries drawn uniformly from {lo, ..., hi} / scale.
RowMatrix grid_matrix(int rows, int cols, int lo, int hi, float scale, std::mt19937_64& rng) {
  std::uniform_int_distribution<int> dist(lo, hi);
  RowMatrix m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(dist(rng)) / scale;
  return m;
}

// Brute force: every score as `score(u, m)` gives it, excluded movies
// dropped, sorted by score descending then movie ascending, first top_n kept.
template <typename Score>
TopNBlock brute_force(const RowMatrix& users, const RowMatrix& movies, const UserItems* exclude,
                      int top_n, Score score) {
  TopNBlock out;
  out.user_begin = 0;
  out.user_end = static_cast<int>(users.rows());
  out.top_n = top_n;
  out.items.assign(static_cast<std::size_t>(users.rows()) * top_n, 0);
  out.scores.assign(static_cast<std::size_t>(users.rows()) * top_n, 0.0f);
  out.counts.assign(users.rows(), 0);
  for (int u = 0; u < users.rows(); ++u) {
    std::vector<bool> excluded(movies.rows(), false);
    if (exclude) {
      for (auto k = exclude->indptr[u]; k < exclude->indptr[u + 1]; ++k) {
        excluded[exclude->indices[k]] = true;
      }
    }
    std::vector<std::pair<float, int>> all;
    for (int m = 0; m < movies.rows(); ++m) {
      if (!excluded[m]) all.emplace_back(score(u, m), m);
    }
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    const int count = std::min<int>(top_n, static_cast<int>(all.size()));
    out.counts[u] = count;
    for (int i = 0; i < count; ++i) {
      out.items[static_cast<std::size_t>(u) * top_n + i] = all[i].second;
      out.scores[static_cast<std::size_t>(u) * top_n + i] = all[i].first;
    }
  }
  return out;
}

// Every score in double (exact for grid data), rounded to float.
TopNBlock reference(const RowMatrix& users, const RowMatrix& movies, const UserItems* exclude,
                    int top_n) {
  return brute_force(users, movies, exclude, top_n, [&](int u, int m) {
    return static_cast<float>(users.row(u).cast<double>().dot(movies.row(m).cast<double>()));
  });
}

// Each score computed as the kernel computes it (recs::reference_dot, in
// float): the kernels must match it bit for bit on any data.
TopNBlock exact_reference(const RowMatrix& users, const RowMatrix& movies, const UserItems* exclude,
                          int top_n) {
  const int d = static_cast<int>(users.cols());
  return brute_force(users, movies, exclude, top_n, [&](int u, int m) {
    return recs::reference_dot(&users(u, 0), &movies(m, 0), d);
  });
}

void expect_identical(const TopNBlock& a, const TopNBlock& b) {
  EXPECT_EQ(a.user_begin, b.user_begin);
  EXPECT_EQ(a.user_end, b.user_end);
  EXPECT_EQ(a.counts, b.counts);
  const std::size_t n = a.top_n;
  for (std::size_t u = 0; u < a.counts.size(); ++u) {
    for (int i = 0; i < a.counts[u]; ++i) {
      ASSERT_EQ(a.items[u * n + i], b.items[u * n + i]) << "user " << u << " rank " << i;
      // Bitwise, not ==: a thread-count dependence would show in the last bit.
      ASSERT_EQ(std::bit_cast<std::uint32_t>(a.scores[u * n + i]),
                std::bit_cast<std::uint32_t>(b.scores[u * n + i]))
          << "user " << u << " rank " << i;
    }
  }
}

TopNOptions options(int top_n, int threads, int user_block, int movie_block) {
  TopNOptions o;
  o.top_n = top_n;
  o.threads = threads;
  o.user_block = user_block;
  o.movie_block = movie_block;
  return o;
}

TEST(ScoreTopN, ManyTiesRaggedBlocksMatchReference) {
  std::mt19937_64 rng(1);
  // Entries in {-2..2} with 3 factors: a few dozen distinct scores over 101
  // movies, so nearly every top-N boundary is a tie settled by movie index.
  const RowMatrix users = grid_matrix(53, 3, -2, 2, 1.0f, rng);
  const RowMatrix movies = grid_matrix(101, 3, -2, 2, 1.0f, rng);
  const UserItems rated = random_rated(53, 101, 0.1, rng);
  for (int top_n : {1, 7, 10, 40}) {
    for (int threads : {1, 3}) {
      SCOPED_TRACE("top_n " + std::to_string(top_n) + " threads " + std::to_string(threads));
      expect_same(reference(users, movies, nullptr, top_n),
                  recs::score_top_n(users, movies, nullptr, options(top_n, threads, 7, 16)));
      expect_same(reference(users, movies, &rated, top_n),
                  recs::score_top_n(users, movies, &rated, options(top_n, threads, 7, 16)));
    }
  }
}

TEST(ScoreTopN, PruningPathsMatchReference) {
  std::mt19937_64 rng(2);
  // Enough movies per user that the candidate buffer is pruned many times in
  // both admission regimes; a finer grid still has ties but fewer.
  const int num_users = 61, num_movies = 5003;
  const RowMatrix users = grid_matrix(num_users, 8, -16, 16, 8.0f, rng);
  const RowMatrix movies = grid_matrix(num_movies, 8, -16, 16, 8.0f, rng);
  const UserItems rated = random_rated(num_users, num_movies, 0.05, rng);
  // 300 is past the size up to which the final ordering ranks by counting.
  for (int top_n : {1, 5, 50, 100, 300}) {
    SCOPED_TRACE("top_n " + std::to_string(top_n));
    const TopNBlock expected = reference(users, movies, &rated, top_n);
    expect_same(expected, recs::score_top_n(users, movies, &rated, options(top_n, 2, 16, 1000)));
    expect_same(expected, recs::score_top_n(users, movies, &rated, options(top_n, 1, 512, 4096)));
  }
}

TEST(ScoreTopN, AllZeroVectorsGiveLowestIndices) {
  const RowMatrix users = RowMatrix::Zero(9, 4);
  const RowMatrix movies = RowMatrix::Zero(300, 4);
  // User 1 rated movies 0, 2 and 4; the rest rated nothing.
  std::vector<std::vector<std::int32_t>> lists(9);
  lists[1] = {0, 2, 4};
  const UserItems rated = from_lists(lists);
  const TopNBlock got = recs::score_top_n(users, movies, &rated, options(5, 2, 4, 64));
  ASSERT_EQ(got.counts, std::vector<std::int32_t>(9, 5));
  EXPECT_EQ(std::vector<std::int32_t>(got.items.begin(), got.items.begin() + 5),
            (std::vector<std::int32_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(std::vector<std::int32_t>(got.items.begin() + 5, got.items.begin() + 10),
            (std::vector<std::int32_t>{1, 3, 5, 6, 7}));
  for (int i = 0; i < 45; ++i) EXPECT_EQ(got.scores[i], 0.0f);
}

TEST(ScoreTopN, TopNBeyondMoviesAndUsersWhoRatedAlmostEverything) {
  std::mt19937_64 rng(3);
  const int num_movies = 101;
  const RowMatrix users = grid_matrix(6, 4, -3, 3, 1.0f, rng);
  const RowMatrix movies = grid_matrix(num_movies, 4, -3, 3, 1.0f, rng);
  std::vector<std::int32_t> all(num_movies);
  std::iota(all.begin(), all.end(), 0);
  std::vector<std::vector<std::int32_t>> lists(6);
  lists[0] = all;  // rated everything: no entries
  lists[1] = all;  // rated all but three
  lists[1].erase(lists[1].begin() + 70);
  lists[1].erase(lists[1].begin() + 20);
  lists[1].erase(lists[1].begin() + 0);
  lists[2] = {100};  // rated only the last movie
  lists[4] = all;    // rated all but the last one
  lists[4].pop_back();
  const UserItems rated = from_lists(lists);

  for (int top_n : {3, 150}) {
    SCOPED_TRACE("top_n " + std::to_string(top_n));
    const TopNBlock got = recs::score_top_n(users, movies, &rated, options(top_n, 2, 4, 16));
    expect_same(reference(users, movies, &rated, top_n), got);
    EXPECT_EQ(got.counts[0], 0);
    EXPECT_EQ(got.counts[1], 3);
    EXPECT_EQ(got.counts[4], 1);
    EXPECT_EQ(got.items[4 * top_n], 100);
    if (top_n == 150) {
      EXPECT_EQ(got.counts[2], 100);
      EXPECT_EQ(got.counts[3], 101);
      std::vector<std::int32_t> user1(got.items.begin() + top_n, got.items.begin() + top_n + 3);
      std::sort(user1.begin(), user1.end());
      EXPECT_EQ(user1, (std::vector<std::int32_t>{0, 20, 70}));
    }
  }
}

TEST(ScoreTopN, MaskedMoviesNeverSelectedEvenWhenScoresAreInfiniteOrNaN) {
  // One factor: user 0 scores every movie -inf or NaN (inf * 0); user 1
  // scores +inf or NaN. Masked movies must not appear, NaN never does, and
  // infinite scores are ordinary values.
  RowMatrix users(2, 1);
  users << std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity();
  RowMatrix movies(40, 1);
  for (int m = 0; m < 40; ++m) movies(m, 0) = m % 4 == 3 ? 0.0f : -1.0f;
  std::vector<std::vector<std::int32_t>> lists(2);
  lists[0] = {0, 1, 5, 39};
  lists[1] = {2};
  const UserItems rated = from_lists(lists);
  const TopNBlock got = recs::score_top_n(users, movies, &rated, options(100, 1, 1, 8));
  // 30 movies have a non-NaN score; user 0 rated 3 of those, user 1 one.
  ASSERT_EQ(got.counts, (std::vector<std::int32_t>{27, 29}));
  std::vector<std::int32_t> expected0, expected1;
  for (int m = 0; m < 40; ++m) {
    if (m % 4 == 3) continue;
    if (m != 0 && m != 1 && m != 5) expected0.push_back(m);
    if (m != 2) expected1.push_back(m);
  }
  EXPECT_EQ(std::vector<std::int32_t>(got.items.begin(), got.items.begin() + 27), expected0);
  EXPECT_EQ(std::vector<std::int32_t>(got.items.begin() + 100, got.items.begin() + 129), expected1);
  for (int i = 0; i < 27; ++i) EXPECT_EQ(got.scores[i], -std::numeric_limits<float>::infinity());
  for (int i = 0; i < 29; ++i) {
    EXPECT_EQ(got.scores[100 + i], std::numeric_limits<float>::infinity());
  }
}

TEST(ScoreTopN, ThreadCountDoesNotChangeTheResult) {
  std::mt19937_64 rng(4);
  // Real-valued scores: rounding depends on the product's tiling, which must
  // not depend on the thread count.
  const RowMatrix users = normal_matrix(700, 16, rng);
  const RowMatrix movies = normal_matrix(3000, 16, rng);
  const UserItems rated = random_rated(700, 3000, 0.02, rng);
  const TopNBlock one = recs::score_top_n(users, movies, &rated, options(20, 1, 64, 512));
  for (int threads : {2, 4, 0}) {
    SCOPED_TRACE("threads " + std::to_string(threads));
    expect_identical(one, recs::score_top_n(users, movies, &rated, options(20, threads, 64, 512)));
  }
  // And the result is the top-N up to float rounding: scores agree with the
  // double-precision reference rank by rank.
  const TopNBlock ref = reference(users, movies, &rated, 20);
  ASSERT_EQ(one.counts, ref.counts);
  for (std::size_t i = 0; i < one.scores.size(); ++i) {
    ASSERT_NEAR(one.scores[i], ref.scores[i], 1e-4) << "entry " << i;
  }
}

// Movies whose norms vary as a trained model's do (a few long vectors, many
// short ones), so the norm bound leaves users early.
RowMatrix spread_norms(RowMatrix m, std::mt19937_64& rng) {
  std::exponential_distribution<float> scale(1.0f);
  for (Eigen::Index i = 0; i < m.rows(); ++i) m.row(i) *= 0.05f + scale(rng);
  return m;
}

TEST(ScoreTopN, NormPruningSkipsWorkAndGivesThePlainScansResultTiesIncluded) {
  std::mt19937_64 rng(9);
  // Grid data (exact scores, many ties) with spread norms: ties at the cut
  // between movies of different norm blocks, settled by movie index.
  const int num_users = 67, num_movies = 3001;
  const RowMatrix users = grid_matrix(num_users, 6, -4, 4, 4.0f, rng);
  RowMatrix movies = grid_matrix(num_movies, 6, -4, 4, 4.0f, rng);
  for (Eigen::Index i = 0; i < movies.rows(); ++i) movies.row(i) *= static_cast<float>(1 + i % 7);
  // Copies of one vector at both ends: equal scores far apart in index order.
  movies.row(num_movies - 1) = movies.row(3);
  movies.row(num_movies - 2) = movies.row(3);
  const UserItems rated = random_rated(num_users, num_movies, 0.05, rng);
  for (int top_n : {1, 10, 100}) {
    for (int threads : {1, 3}) {
      SCOPED_TRACE("top_n " + std::to_string(top_n) + " threads " + std::to_string(threads));
      TopNOptions pruned = options(top_n, threads, 16, 128);
      std::atomic<std::int64_t> skipped{0};
      pruned.skipped = &skipped;
      TopNOptions plain = pruned;
      plain.prune = false;
      plain.skipped = nullptr;
      const TopNBlock expected = reference(users, movies, &rated, top_n);
      expect_same(expected, recs::score_top_n(users, movies, &rated, pruned));
      expect_same(expected, recs::score_top_n(users, movies, &rated, plain));
      EXPECT_GT(skipped.load(), 0);
      expect_same(reference(users, movies, nullptr, top_n),
                  recs::score_top_n(users, movies, nullptr, pruned));
    }
  }

  // Real-valued vectors: every score is computed the same way in both scans
  // (recs::reference_dot), so the lists are the plain scan's bit for bit,
  // for any thread count, while most pairs are skipped.
  const RowMatrix u = normal_matrix(900, 32, rng);
  const RowMatrix v = spread_norms(normal_matrix(6000, 32, rng), rng);
  const UserItems r = random_rated(900, 6000, 0.01, rng);
  const TopNBlock want = exact_reference(u, v, &r, 50);
  for (int threads : {1, 2, 4}) {
    SCOPED_TRACE("threads " + std::to_string(threads));
    TopNOptions plain = options(50, threads, 64, 256);
    plain.prune = false;
    expect_identical(want, recs::score_top_n(u, v, &r, plain));
    TopNOptions pruned = options(50, threads, 64, 256);
    std::atomic<std::int64_t> skipped{0};
    pruned.skipped = &skipped;
    expect_identical(want, recs::score_top_n(u, v, &r, pruned));
    EXPECT_GT(skipped.load(), 900LL * 6000 / 4);
  }
}

TEST(ScoreTopN, NormPruningKeepsThePlainScansTiesOnRealValuedData) {
  // Each vector appears several times at scattered indices, so equal scores
  // are common (the same pair of vectors gives the same bits wherever it is
  // computed) and land in different norm blocks; users are duplicated too
  // and land in different user blocks. Ties go to the smaller index.
  std::mt19937_64 rng(12);
  const RowMatrix base_u = normal_matrix(60, 24, rng);
  const RowMatrix base_v = spread_norms(normal_matrix(500, 24, rng), rng);
  RowMatrix u(240, 24), v(3000, 24);
  for (Eigen::Index i = 0; i < u.rows(); ++i)
    u.row(i) = base_u.row(static_cast<Eigen::Index>(rng() % 60));
  for (Eigen::Index i = 0; i < v.rows(); ++i)
    v.row(i) = base_v.row(static_cast<Eigen::Index>(rng() % 500));
  const UserItems r = random_rated(240, 3000, 0.02, rng);
  for (int top_n : {1, 7, 40}) {
    const TopNBlock want = exact_reference(u, v, &r, top_n);
    const TopNBlock want_all = exact_reference(u, v, nullptr, top_n);
    for (int threads : {1, 2, 3}) {
      SCOPED_TRACE("top_n " + std::to_string(top_n) + " threads " + std::to_string(threads));
      for (const bool prune : {false, true}) {
        TopNOptions o = options(top_n, threads, 13, 100);  // 100: rounded up to whole panels
        o.prune = prune;
        expect_identical(want, recs::score_top_n(u, v, &r, o));
        expect_identical(want_all, recs::score_top_n(u, v, nullptr, o));
      }
    }
  }
}

TEST(ScoreTopN, FoldedBiasColumnsAreBoundedExactlySoMoreIsSkippedWithThePlainResult) {
  // biased_mf's export: users [p, 1, b_u], movies [q, b_i, 1]. Large movie
  // biases make the norm bound loose; bounding the two constant columns
  // coordinate by coordinate skips far more, and the lists stay the plain
  // scan's bit for bit.
  std::mt19937_64 rng(21);
  const int nu = 700, nm = 5000, d = 16;
  std::normal_distribution<float> bias(0.0f, 1.0f);
  RowMatrix u(nu, d + 2), v(nm, d + 2);
  u.leftCols(d) = normal_matrix(nu, d, rng) * 0.3f;
  v.leftCols(d) = spread_norms(normal_matrix(nm, d, rng), rng) * 0.3f;
  for (int i = 0; i < nu; ++i) {
    u(i, d) = 1.0f;
    u(i, d + 1) = bias(rng);
  }
  for (int m = 0; m < nm; ++m) {
    v(m, d) = 1.5f * bias(rng);
    v(m, d + 1) = 1.0f;
  }
  const UserItems r = random_rated(nu, nm, 0.02, rng);
  const TopNBlock want = exact_reference(u, v, &r, 40);
  for (int threads : {1, 2, 4}) {
    SCOPED_TRACE("threads " + std::to_string(threads));
    TopNOptions pruned = options(40, threads, 32, 256);
    std::atomic<std::int64_t> skipped{0};
    pruned.skipped = &skipped;
    expect_identical(want, recs::score_top_n(u, v, &r, pruned));
    // The norm bound alone skips almost nothing here (about 2 % of pairs).
    EXPECT_GT(skipped.load(), std::int64_t{nu} * nm / 2);
  }
}

TEST(ScoreTopN, NormPruningNeverSkipsWhatANegativeOrZeroThresholdAdmits) {
  // Every score negative or zero: the bound |u| |v| >= 0 never falls below
  // the N-th best, so nothing is skipped and the result is exact. (No
  // column is constant, so the plain norm bound applies.)
  std::mt19937_64 rng(10);
  RowMatrix users = grid_matrix(20, 4, 1, 3, 1.0f, rng).cwiseAbs();
  users(0, 0) = 1;
  users(1, 0) = 2;
  RowMatrix movies = -grid_matrix(700, 4, 0, 3, 1.0f, rng).cwiseAbs();
  TopNOptions pruned = options(30, 2, 8, 64);
  std::atomic<std::int64_t> skipped{0};
  pruned.skipped = &skipped;
  expect_same(reference(users, movies, nullptr, 30),
              recs::score_top_n(users, movies, nullptr, pruned));
  EXPECT_EQ(skipped.load(), 0);
  users.setZero();
  expect_same(reference(users, movies, nullptr, 30),
              recs::score_top_n(users, movies, nullptr, pruned));
}

TEST(ScoreTopN, SinkGetsEveryUserOnceInOrderOneCallAtATime) {
  std::mt19937_64 rng(5);
  const RowMatrix users = grid_matrix(53, 5, -4, 4, 2.0f, rng);
  const RowMatrix movies = grid_matrix(101, 5, -4, 4, 2.0f, rng);
  const UserItems rated = random_rated(53, 101, 0.05, rng);
  const TopNOptions opts = options(10, 4, 7, 16);
  const TopNBlock whole = recs::score_top_n(users, movies, &rated, opts);
  expect_same(reference(users, movies, &rated, 10), whole);

  std::atomic<int> in_sink{0};
  bool overlapped = false;
  int next_user = 0;
  int calls = 0;
  TopNBlock joined;
  joined.top_n = 10;
  joined.user_end = 53;
  recs::score_top_n(users, movies, &rated, opts, [&](const TopNBlock& block) {
    if (in_sink.fetch_add(1) != 0) overlapped = true;
    ++calls;
    EXPECT_EQ(block.user_begin, next_user);
    EXPECT_GT(block.user_end, block.user_begin);
    EXPECT_LE(block.user_end - block.user_begin, 7);
    EXPECT_EQ(block.top_n, 10);
    const std::size_t nu = block.user_end - block.user_begin;
    EXPECT_EQ(block.counts.size(), nu);
    EXPECT_EQ(block.items.size(), nu * 10);
    EXPECT_EQ(block.scores.size(), nu * 10);
    next_user = block.user_end;
    joined.items.insert(joined.items.end(), block.items.begin(), block.items.end());
    joined.scores.insert(joined.scores.end(), block.scores.begin(), block.scores.end());
    joined.counts.insert(joined.counts.end(), block.counts.begin(), block.counts.end());
    // A slow sink gives concurrent calls, if any were possible, time to show.
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    in_sink.fetch_sub(1);
  });
  EXPECT_FALSE(overlapped);
  EXPECT_EQ(calls, 8);  // ceil(53 / 7)
  EXPECT_EQ(next_user, 53);
  expect_same(whole, joined);
}

TEST(ScoreTopN, DegenerateShapes) {
  std::mt19937_64 rng(6);
  const RowMatrix users = grid_matrix(5, 3, -2, 2, 1.0f, rng);
  const RowMatrix movies = grid_matrix(20, 3, -2, 2, 1.0f, rng);

  const TopNBlock none = recs::score_top_n(users, movies, nullptr, options(0, 2, 2, 8));
  EXPECT_EQ(none.counts, std::vector<std::int32_t>(5, 0));
  EXPECT_TRUE(none.items.empty());

  const TopNBlock no_movies =
      recs::score_top_n(users, RowMatrix(0, 3), nullptr, options(4, 2, 2, 8));
  EXPECT_EQ(no_movies.counts, std::vector<std::int32_t>(5, 0));

  int calls = 0;
  recs::score_top_n(RowMatrix(0, 3), movies, nullptr, options(4, 2, 2, 8),
                    [&](const TopNBlock&) { ++calls; });
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(recs::score_top_n(RowMatrix(0, 3), movies, nullptr, options(4, 2, 2, 8)).user_end, 0);

  EXPECT_THROW(recs::score_top_n(users, RowMatrix::Zero(20, 4), nullptr, options(4, 1, 2, 8)),
               std::invalid_argument);
  EXPECT_THROW(recs::score_top_n(users, movies, nullptr, options(-1, 1, 2, 8)),
               std::invalid_argument);
  EXPECT_THROW(recs::score_top_n(users, movies, nullptr, options(4, 1, 0, 8)),
               std::invalid_argument);
  const UserItems wrong_size = from_lists({{1}, {2}});
  EXPECT_THROW(recs::score_top_n(users, movies, &wrong_size, options(4, 1, 2, 8)),
               std::invalid_argument);
}

TEST(ScoreBench, ReportsOneJsonLine) {
  recs::ScoreBenchOptions o;
  o.users = 300;
  o.movies = 2000;
  o.factors = 16;
  o.top_n = 10;
  o.threads = 2;
  o.seed = 7;
  o.rated_fraction = 0.01;
  const std::string line = recs::bench_score(o);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.front(), '{');
  EXPECT_EQ(line.back(), '}');
  for (const char* key :
       {"\"users\":300,", "\"movies\":2000,", "\"factors\":16,", "\"top_n\":10,", "\"threads\":2,",
        "\"seconds\":", "\"gflops\":", "\"peak_rss_mb\":", "\"entries\":3000"}) {
    EXPECT_NE(line.find(key), std::string::npos) << key << " missing from " << line;
  }
  o.rated_fraction = 1.5;
  EXPECT_THROW(recs::bench_score(o), recs::UsageError);
}

}  // namespace
