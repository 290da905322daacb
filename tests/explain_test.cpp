// "Because you rated X": the liked movie most similar to each recommended
// one, never the movie itself, ties to the smaller index, independent of
// the thread count.
#include "scoring/explain.h"

#include <gtest/gtest.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <numeric>
#include <random>

namespace recs {
namespace {

// Rated movies per user (ascending) with their ratings.
struct Rated {
  UserItems items;
  std::vector<float> ratings;

  explicit Rated(const std::vector<std::vector<std::pair<std::int32_t, float>>>& users) {
    items.indptr.push_back(0);
    for (const auto& u : users) {
      for (const auto& [m, r] : u) {
        items.indices.push_back(m);
        ratings.push_back(r);
      }
      items.indptr.push_back(static_cast<std::int64_t>(items.indices.size()));
    }
  }
};

// One block of users from their recommended movies, top_n = the longest list.
TopNBlock block_of(const std::vector<std::vector<std::int32_t>>& lists) {
  TopNBlock b;
  b.user_begin = 0;
  b.user_end = static_cast<int>(lists.size());
  for (const auto& l : lists) b.top_n = std::max(b.top_n, static_cast<int>(l.size()));
  b.items.assign(lists.size() * static_cast<std::size_t>(b.top_n), 0);
  b.scores.assign(b.items.size(), 0.0f);
  for (std::size_t i = 0; i < lists.size(); ++i) {
    b.counts.push_back(static_cast<std::int32_t>(lists[i].size()));
    std::copy(lists[i].begin(), lists[i].end(),
              b.items.begin() + static_cast<std::ptrdiff_t>(i * b.top_n));
  }
  return b;
}

RowMatrix rows(std::initializer_list<std::initializer_list<float>> values) {
  RowMatrix m(static_cast<Eigen::Index>(values.size()),
              static_cast<Eigen::Index>(values.begin()->size()));
  Eigen::Index i = 0;
  for (const auto& r : values) {
    Eigen::Index j = 0;
    for (float v : r) m(i, j++) = v;
    ++i;
  }
  return m;
}

TEST(Explain, TheMostSimilarLikedMovieExplainsEachRecommendation) {
  // 0 and 1 point apart; 2 is close to 0, 3 close to 1 (length ignored).
  RowMatrix movies = rows({{1, 0}, {0, 1}, {9, 1}, {0.1f, 0.9f}});
  Rated rated({{{0, 5}, {1, 5}}});
  Explainer e(movies, {0, 1}, rated.items, rated.ratings);
  EXPECT_EQ(e.explain(block_of({{2, 3}}), {}), std::vector<std::int32_t>({0, 1}));
}

TEST(Explain, OnlyLikedMoviesExplainWhenThereAreAny) {
  RowMatrix movies = rows({{1, 0}, {0, 1}, {0.9f, 0.1f}});
  // Movie 0 rated below the user's mean (3): not liked, though closest to 2.
  Rated rated({{{0, 1}, {1, 5}}});
  Explainer e(movies, {0, 1}, rated.items, rated.ratings);
  EXPECT_EQ(e.explain(block_of({{2}}), {}), std::vector<std::int32_t>({1}));
}

TEST(Explain, TiesGoToTheSmallerMovieIndex) {
  RowMatrix movies = rows({{0, 1}, {1, 0}, {2, 0}, {1, 0}, {3, 0}});
  Rated rated({{{1, 4}, {2, 4}, {4, 4}}});
  Explainer e(movies, {0, 1}, rated.items, rated.ratings);
  EXPECT_EQ(e.explain(block_of({{3, 0}}), {}), std::vector<std::int32_t>({1, 1}));
}

TEST(Explain, NeverTheMovieItselfAndNothingWithoutAnotherRatedMovie) {
  RowMatrix movies = rows({{1, 0}, {0, 1}, {1, 1}});
  Rated rated({
      {},                // rated nothing the model knows
      {{2, 5}},          // rated only the recommended movie
      {{0, 1}, {2, 5}},  // the recommended movie is the only liked one
      {{1, 5}, {2, 5}},  // rated the recommended movie and another liked one
  });
  Explainer e(movies, {0, 1}, rated.items, rated.ratings);
  TopNBlock b = block_of({{2, 1}, {2}, {2}, {2}});
  std::vector<std::int32_t> got = e.explain(b, {});
  EXPECT_EQ(got[0], kNoReason);
  EXPECT_EQ(got[1], kNoReason);
  EXPECT_EQ(got[2], kNoReason);
  EXPECT_EQ(got[4], 0);  // falls back to the rated, not liked, movie
  EXPECT_EQ(got[6], 1);
}

TEST(Explain, ItemsIndexTheCandidatesAndBiasColumnsAreLeftOut) {
  // Column 2 is a bias column that would make movie 1 most similar to all.
  RowMatrix movies = rows({{1, 0, 0}, {0, 1, 50}, {1, 0.1f, 50}, {0.1f, 1, 0}});
  Rated rated({{{0, 4}, {1, 4}}});
  Explainer e(movies, {0, 1}, rated.items, rated.ratings);
  // Candidates {2, 3}: item 0 is movie 2, item 1 is movie 3.
  EXPECT_EQ(e.explain(block_of({{0, 1}}), {2, 3}), std::vector<std::int32_t>({0, 1}));
}

TEST(Explain, OfManyLikedMoviesTheBestRatedThenTheMostRatedAreLookedAt) {
  // Movie 1 is the closest to the recommended 3, but of the three rated 5
  // only two are looked at: movie 2 (the longest vector), then movie 0 (the
  // smaller index of two as long). Another user's ratings do not matter.
  RowMatrix movies = rows({{1, 0}, {0, 1}, {1, 1}, {0.1f, 1}, {-1, 0}, {-1, 0.1f}, {-1, 0.2f}});
  Rated rated({{{0, 5}, {1, 5}, {2, 5}, {4, 4}, {5, 4}, {6, 3}}, {{2, 3}}});
  const TopNBlock b = block_of({{3}, {}});
  EXPECT_EQ(Explainer(movies, {0, 1}, rated.items, rated.ratings).explain(b, {})[0], 1);
  EXPECT_EQ(Explainer(movies, {0, 1}, rated.items, rated.ratings, 3).explain(b, {})[0], 1);
  EXPECT_EQ(Explainer(movies, {0, 1}, rated.items, rated.ratings, 2).explain(b, {})[0], 2);
  EXPECT_EQ(Explainer(movies, {0, 1}, rated.items, rated.ratings, 1).explain(b, {})[0], 2);
  // Movies 4-6 (rated below the mean 4.33) are never looked at, however
  // close: the bound picks among the liked movies only.
  RowMatrix west = movies;
  west.row(3) << -1, 0.05f;
  EXPECT_EQ(Explainer(west, {0, 1}, rated.items, rated.ratings, 2).explain(b, {})[0], 2);
}

TEST(Explain, MatchesBruteForceForAnyThreadCount) {
  std::mt19937_64 rng(11);
  std::normal_distribution<float> normal;
  const int num_movies = 200, num_users = 300, d = 8, top_n = 10;
  RowMatrix movies(num_movies, d);
  for (Eigen::Index i = 0; i < movies.size(); ++i) movies.data()[i] = normal(rng);
  std::vector<std::vector<std::pair<std::int32_t, float>>> users(num_users);
  std::vector<std::vector<std::int32_t>> lists(num_users);
  for (int u = 0; u < num_users; ++u) {
    std::vector<std::int32_t> all(num_movies);
    std::iota(all.begin(), all.end(), 0);
    std::shuffle(all.begin(), all.end(), rng);
    const int rated = static_cast<int>(rng() % 40);
    std::vector<std::int32_t> mine(all.begin(), all.begin() + rated);
    std::sort(mine.begin(), mine.end());
    for (std::int32_t m : mine) users[u].push_back({m, static_cast<float>(1 + rng() % 5) * 0.5f});
    lists[u].assign(all.begin() + rated, all.begin() + rated + top_n);
  }
  Rated rated(users);
  Explainer e(movies, {0, 1, 2, 3, 4, 5, 6, 7}, rated.items, rated.ratings);
  TopNBlock b = block_of(lists);
  std::vector<std::vector<std::int32_t>> by_threads;
  for (int threads : {1, 2, 4}) {
    tbb::task_arena arena(threads);
    by_threads.push_back(arena.execute([&] { return e.explain(b, {}); }));
  }
  EXPECT_EQ(by_threads[0], by_threads[1]);
  EXPECT_EQ(by_threads[0], by_threads[2]);

  RowMatrix unit = movies;
  unit.rowwise().normalize();
  for (int u = 0; u < num_users; ++u) {
    float mean = 0;
    for (const auto& [m, r] : users[u]) mean += r;
    if (!users[u].empty()) mean /= static_cast<float>(users[u].size());
    for (int k = 0; k < top_n; ++k) {
      const std::int32_t got = by_threads[0][static_cast<std::size_t>(u * top_n + k)];
      if (users[u].empty()) {
        EXPECT_EQ(got, kNoReason);
        continue;
      }
      float best = -2;
      for (const auto& [m, r] : users[u]) {
        if (r >= mean) best = std::max(best, unit.row(m).dot(unit.row(lists[u][k])));
      }
      ASSERT_NE(got, kNoReason);
      EXPECT_NEAR(unit.row(got).dot(unit.row(lists[u][k])), best, 1e-5f);
    }
  }
}

}  // namespace
}  // namespace recs
