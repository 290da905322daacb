// Similar movies: cosine top-K with the scoring kernel, never the movie
// itself, restricted to candidates, bias columns left out.
#include "scoring/similar.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

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

}  // namespace
}  // namespace recs
