// Similar movies: cosine top-K with the scoring kernel, never the movie
// itself, restricted to candidates, bias columns left out.
#include "scoring/similar.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "scoring/angular.h"
#include "scoring/tile_product.h"
#include "scoring/topn.h"
#include "topn_fixtures.h"

namespace recs {
namespace {

TEST(Similar, TasteColumnsLeaveOutConstantColumns) {
  RowMatrix users(3, 4), movies(3, 4);
  users << 1, 2, 5, 1, 3, 4, 6, 1, 5, 6, 7, 1;   // last column: constant 1
  movies << 1, 0, 1, 9, 2, 1, 1, 8, 3, 2, 1, 7;  // third column: constant 1
  EXPECT_EQ(taste_columns(users, movies), std::vector<int>({0, 1}));
}

TEST(Similar, SelectColumnsKeepsTheNamedColumnsInOrder) {
  RowMatrix m(3, 4);
  m << 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12;
  RowMatrix picked = select_columns(m, {3, 0, 2});
  RowMatrix want(3, 3);
  want << 4, 1, 3, 8, 5, 7, 12, 9, 11;
  EXPECT_EQ(picked, want);
  EXPECT_EQ(select_columns(m, {0, 1, 2, 3}), m);
  EXPECT_EQ(select_columns(m, {0, 1}), m.leftCols(2));
  RowMatrix unit = unit_rows(m, {0, 1, 2, 3});
  EXPECT_NEAR(unit.row(1).norm(), 1.0f, 1e-6f);
  EXPECT_NEAR(unit(1, 3), 8.0f / m.row(1).norm(), 1e-6f);
}

TEST(Similar, MatchesBruteForceCosineAndNeverTheMovieItself) {
  std::mt19937_64 rng(7);
  std::normal_distribution<float> d;
  RowMatrix movies(120, 6);
  for (Eigen::Index i = 0; i < movies.size(); ++i) movies.data()[i] = d(rng);
  // Scale rows: cosine must ignore length.
  for (Eigen::Index i = 0; i < movies.rows(); ++i) movies.row(i) *= static_cast<float>(1 + i % 7);
  std::vector<int> columns = {0, 1, 2, 3, 4, 5};
  std::vector<std::int32_t> candidates(120);
  std::iota(candidates.begin(), candidates.end(), 0);
  const int k = 5;
  TopNBlock got = similar_movies(movies, columns, candidates, k, 2);
  RowMatrix unit = unit_rows(movies, columns);
  for (int i = 0; i < 120; ++i) {
    std::vector<std::pair<float, int>> all;
    for (int j = 0; j < 120; ++j) {
      if (j != i) all.push_back({-unit.row(i).dot(unit.row(j)), j});
    }
    std::sort(all.begin(), all.end());
    ASSERT_EQ(got.counts[static_cast<std::size_t>(i)], k);
    for (int r = 0; r < k; ++r) {
      const std::size_t at = static_cast<std::size_t>(i * k + r);
      EXPECT_NE(got.items[at], i);
      EXPECT_NEAR(got.scores[at], -all[static_cast<std::size_t>(r)].first, 1e-5);
    }
    // The best neighbour is the brute-force best unless two tie closely.
    if (all[1].first - all[0].first > 1e-5) {
      EXPECT_EQ(got.items[static_cast<std::size_t>(i * k)], all[0].second);
    }
  }
}

TEST(Similar, OnlyCandidatesAreReturned) {
  RowMatrix movies(5, 2);
  movies << 1, 0, 0.9f, 0.1f, 0, 1, 0.8f, 0.2f, 0.1f, 0.9f;
  std::vector<std::int32_t> candidates = {0, 2, 4};  // 1 and 3 are filtered out
  TopNBlock got = similar_movies(movies, {0, 1}, candidates, 2, 1);
  // Movie 0's nearest candidate is not movie 1 (filtered) nor itself.
  EXPECT_EQ(got.counts[0], 2);
  EXPECT_EQ(candidates[static_cast<std::size_t>(got.items[0])], 4);
  // Movie 1 (not a candidate itself) still gets neighbours: 0 first.
  EXPECT_EQ(candidates[static_cast<std::size_t>(got.items[2])], 0);
  // Movie 2 cannot get itself: its neighbours are 4 then 0.
  EXPECT_EQ(candidates[static_cast<std::size_t>(got.items[4])], 4);
  EXPECT_EQ(candidates[static_cast<std::size_t>(got.items[5])], 0);
}

// Bit for bit: the same counts, items and score bits.
void expect_identical(const TopNBlock& want, const TopNBlock& got) {
  ASSERT_EQ(want.counts, got.counts);
  ASSERT_EQ(want.top_n, got.top_n);
  const auto n = static_cast<std::size_t>(want.top_n);
  for (std::size_t q = 0; q < want.counts.size(); ++q) {
    for (std::size_t r = 0; r < static_cast<std::size_t>(want.counts[q]); ++r) {
      ASSERT_EQ(want.items[q * n + r], got.items[q * n + r]) << "movie " << q << " rank " << r;
      ASSERT_EQ(std::bit_cast<std::uint32_t>(want.scores[q * n + r]),
                std::bit_cast<std::uint32_t>(got.scores[q * n + r]))
          << "movie " << q << " rank " << r;
    }
  }
}

// Every movie's top_k among the candidates by a sort of reference_dot()
// scores of the unit rows (the kernel's own arithmetic), ties to the smaller
// candidate, never itself.
TopNBlock brute_force_similar(const RowMatrix& movies, const std::vector<int>& columns,
                              const std::vector<std::int32_t>& candidates, int top_k) {
  const RowMatrix unit = unit_rows(movies, columns);
  const int d = static_cast<int>(unit.cols());
  TopNBlock out;
  out.user_end = static_cast<int>(movies.rows());
  out.top_n = top_k;
  out.items.assign(static_cast<std::size_t>(movies.rows()) * top_k, 0);
  out.scores.assign(out.items.size(), 0.0f);
  for (int q = 0; q < movies.rows(); ++q) {
    std::vector<std::pair<float, std::int32_t>> all;
    for (std::size_t j = 0; j < candidates.size(); ++j) {
      if (candidates[j] == q) continue;
      all.emplace_back(reference_dot(&unit(q, 0), &unit(candidates[j], 0), d),
                       static_cast<std::int32_t>(j));
    }
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    const int count = std::min<int>(top_k, static_cast<int>(all.size()));
    out.counts.push_back(count);
    for (int r = 0; r < count; ++r) {
      out.items[static_cast<std::size_t>(q * top_k + r)] = all[static_cast<std::size_t>(r)].second;
      out.scores[static_cast<std::size_t>(q * top_k + r)] = all[static_cast<std::size_t>(r)].first;
    }
  }
  return out;
}

// Movies around `centres` directions: each a centre plus noise of `spread`,
// some of them exact copies of an earlier movie (equal scores far apart in
// index order), some the centre itself scaled (equal cosines).
RowMatrix clustered_movies(int rows, int cols, int centres, float spread, std::mt19937_64& rng) {
  const RowMatrix c = test::normal_matrix(centres, cols, rng);
  std::normal_distribution<float> noise(0.0f, spread);
  std::uniform_int_distribution<int> pick(0, centres - 1);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  RowMatrix m(rows, cols);
  for (int i = 0; i < rows; ++i) {
    const float u = unit(rng);
    if (i > 0 && u < 0.2f) {
      m.row(i) = m.row(std::uniform_int_distribution<int>(0, i - 1)(rng));
    } else if (u < 0.3f) {
      m.row(i) = c.row(pick(rng)) * (1.0f + 3.0f * unit(rng));
    } else {
      m.row(i) = c.row(pick(rng));
      for (int j = 0; j < cols; ++j) m(i, j) += noise(rng);
    }
  }
  return m;
}

std::vector<std::int32_t> all_movies(int n) {
  std::vector<std::int32_t> out(static_cast<std::size_t>(n));
  std::iota(out.begin(), out.end(), 0);
  return out;
}

TEST(Similar, AngularBoundGivesThePlainListsBitForBitOnRandomData) {
  std::mt19937_64 rng(11);
  const RowMatrix movies = test::normal_matrix(2500, 12, rng);
  const std::vector<int> columns = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  const std::vector<std::int32_t> candidates = all_movies(2500);
  SimilarOptions plain;
  plain.prune = false;
  const TopNBlock want = brute_force_similar(movies, columns, candidates, 10);
  for (const int threads : {1, 2, 4}) {
    SCOPED_TRACE("threads " + std::to_string(threads));
    expect_identical(want, similar_movies(movies, columns, candidates, 10, threads, plain));
    expect_identical(want, similar_movies(movies, columns, candidates, 10, threads));
  }
}

TEST(Similar, AngularBoundSkipsClusteredDataAndKeepsTiesAndDuplicates) {
  std::mt19937_64 rng(12);
  const int n = 4000;
  const RowMatrix movies = clustered_movies(n, 16, 30, 0.15f, rng);
  std::vector<int> columns(16);
  std::iota(columns.begin(), columns.end(), 0);
  // Every third movie filtered out: queries that are not candidates too.
  std::vector<std::int32_t> candidates;
  for (int m = 0; m < n; ++m) {
    if (m % 3 != 1) candidates.push_back(m);
  }
  for (const int top_k : {1, 7, 40}) {
    const TopNBlock want = brute_force_similar(movies, columns, candidates, top_k);
    for (const int threads : {1, 2, 3}) {
      SCOPED_TRACE("top_k " + std::to_string(top_k) + " threads " + std::to_string(threads));
      SimilarOptions pruned;
      std::atomic<std::int64_t> skipped{0};
      pruned.skipped = &skipped;
      expect_identical(want, similar_movies(movies, columns, candidates, top_k, threads, pruned));
      // Tight clusters: most candidate blocks are out of reach of most movies.
      EXPECT_GT(skipped.load(), static_cast<std::int64_t>(n) * candidates.size() / 3);
    }
  }
}

// The kernel itself against score_top_n: masks, zero and non-unit vectors,
// N beyond the movies, blocks and groups of odd sizes.
TEST(ScoreTopNAngular, EqualsScoreTopNBitForBit) {
  std::mt19937_64 rng(13);
  RowMatrix movies = clustered_movies(1500, 9, 12, 0.2f, rng);
  movies.row(5).setZero();  // no direction: its block is never skipped
  RowMatrix queries = clustered_movies(700, 9, 12, 0.2f, rng);
  queries.row(3).setZero();
  queries.row(4) = movies.row(10);  // scores equal to the threshold
  const UserItems rated = test::random_rated(700, 1500, 0.05, rng);
  for (const UserItems* exclude : {static_cast<const UserItems*>(nullptr), &rated}) {
    for (const int top_n : {1, 25, 1600}) {
      TopNOptions plain;
      plain.top_n = top_n;
      plain.prune = false;
      const TopNBlock want = score_top_n(queries, movies, exclude, plain);
      for (const int threads : {1, 2, 4}) {
        for (const int movie_block : {32, 100}) {
          SCOPED_TRACE("top_n " + std::to_string(top_n) + " threads " + std::to_string(threads) +
                       " movie_block " + std::to_string(movie_block));
          AngularOptions o;
          o.top_n = top_n;
          o.threads = threads;
          o.query_block = 37;
          o.movie_block = movie_block;
          o.groups = 7;
          expect_identical(want, score_top_n_angular(queries, movies, exclude, o));
        }
      }
    }
  }
}

TEST(ScoreTopNAngular, DegenerateInputs) {
  std::mt19937_64 rng(14);
  const RowMatrix movies = test::normal_matrix(50, 4, rng);
  const RowMatrix queries = test::normal_matrix(20, 4, rng);
  AngularOptions o;
  o.top_n = 5;
  TopNOptions plain;
  plain.top_n = 5;
  // More groups than movies, one movie, no movies, top_n 0.
  o.groups = 1000;
  expect_identical(score_top_n(queries, movies, nullptr, plain),
                   score_top_n_angular(queries, movies, nullptr, o));
  const RowMatrix one = movies.topRows(1);
  expect_identical(score_top_n(queries, one, nullptr, plain),
                   score_top_n_angular(queries, one, nullptr, o));
  const TopNBlock none = score_top_n_angular(queries, RowMatrix(0, 4), nullptr, o);
  EXPECT_EQ(none.counts, std::vector<std::int32_t>(20, 0));
  o.top_n = 0;
  EXPECT_EQ(score_top_n_angular(queries, movies, nullptr, o).counts,
            std::vector<std::int32_t>(20, 0));
  // Every movie identical and every query zero: all ties, settled by index.
  const RowMatrix same = RowMatrix::Ones(300, 4);
  const RowMatrix zeros = RowMatrix::Zero(9, 4);
  o.top_n = 5;
  o.groups = 4;
  expect_identical(score_top_n(zeros, same, nullptr, plain),
                   score_top_n_angular(zeros, same, nullptr, o));
  expect_identical(score_top_n(queries, same, nullptr, plain),
                   score_top_n_angular(queries, same, nullptr, o));
  // A non-finite movie: the plain scan's result (no groups can be formed).
  RowMatrix bad = movies;
  bad(7, 2) = std::numeric_limits<float>::quiet_NaN();
  plain.prune = false;
  o.groups = 8;
  const TopNBlock a = score_top_n(queries, bad, nullptr, plain);
  const TopNBlock b = score_top_n_angular(queries, bad, nullptr, o);
  EXPECT_EQ(a.counts, b.counts);
  EXPECT_EQ(a.items, b.items);
  // Bad options and shapes.
  o.movie_block = 0;
  EXPECT_THROW(score_top_n_angular(queries, movies, nullptr, o), std::invalid_argument);
  o.movie_block = 64;
  o.groups = 0;
  EXPECT_THROW(score_top_n_angular(queries, movies, nullptr, o), std::invalid_argument);
  o.groups = 8;
  EXPECT_THROW(score_top_n_angular(RowMatrix(3, 5), movies, nullptr, o), std::invalid_argument);
}

}  // namespace
}  // namespace recs
