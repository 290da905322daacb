// Builders and checks shared by the tests of the top-N kernels (exact, ann,
// similar movies), of k-means and of the ranking metrics.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "data/ratings.h"
#include "scoring/topn.h"

namespace recs::test {

// `users` users with `n` items each: item (u + k + shift) % movies with score
// shift - k, so a set is recognisable by its rows (the publisher's tests).
inline TopNBlock shifted_block(int users, int n, int movies, int shift = 0) {
  TopNBlock b;
  b.user_begin = 0;
  b.user_end = users;
  b.top_n = n;
  for (int u = 0; u < users; ++u) {
    for (int k = 0; k < n; ++k) {
      b.items.push_back((u + k + shift) % movies);
      b.scores.push_back(static_cast<float>(shift - k));
    }
    b.counts.push_back(n);
  }
  return b;
}

// rows x cols entries drawn from the standard normal distribution.
inline RowMatrix normal_matrix(int rows, int cols, std::mt19937_64& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  RowMatrix m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = dist(rng);
  return m;
}

// Compressed rows from one list per user (each list sorted ascending).
inline UserItems from_lists(const std::vector<std::vector<std::int32_t>>& lists) {
  UserItems out;
  out.indptr.push_back(0);
  for (const auto& l : lists) {
    out.indices.insert(out.indices.end(), l.begin(), l.end());
    out.indptr.push_back(static_cast<std::int64_t>(out.indices.size()));
  }
  return out;
}

// Each (user, movie) rated with probability `fraction`.
inline UserItems random_rated(int users, int movies, double fraction, std::mt19937_64& rng) {
  std::bernoulli_distribution rated(fraction);
  std::vector<std::vector<std::int32_t>> lists(users);
  for (auto& l : lists) {
    for (int m = 0; m < movies; ++m) {
      if (rated(rng)) l.push_back(m);
    }
  }
  return from_lists(lists);
}

// Compares the first counts[u] entries of every user (the rest is
// unspecified): items and scores must be equal, ties included.
inline void expect_same(const TopNBlock& expected, const TopNBlock& actual) {
  ASSERT_EQ(expected.user_begin, actual.user_begin);
  ASSERT_EQ(expected.user_end, actual.user_end);
  ASSERT_EQ(expected.top_n, actual.top_n);
  ASSERT_EQ(expected.counts.size(), actual.counts.size());
  const std::size_t n = expected.top_n;
  ASSERT_EQ(actual.items.size(), actual.counts.size() * n);
  ASSERT_EQ(actual.scores.size(), actual.counts.size() * n);
  int mismatched_users = 0;
  for (std::size_t u = 0; u < expected.counts.size(); ++u) {
    bool same = expected.counts[u] == actual.counts[u];
    for (int i = 0; same && i < expected.counts[u]; ++i) {
      same = expected.items[u * n + i] == actual.items[u * n + i] &&
             expected.scores[u * n + i] == actual.scores[u * n + i];
    }
    if (!same && ++mismatched_users <= 3) {
      ADD_FAILURE() << "user " << u << ": expected " << expected.counts[u] << " entries, got "
                    << actual.counts[u] << "; first items expected "
                    << (expected.counts[u] ? expected.items[u * n] : -1) << " got "
                    << (actual.counts[u] ? actual.items[u * n] : -1);
    }
  }
  EXPECT_EQ(mismatched_users, 0);
}

}  // namespace recs::test
