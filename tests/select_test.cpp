// The selection helpers both top-N kernels share.
#include "scoring/select.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <vector>

namespace recs {
namespace {

using selection::Candidates;

TEST(Selection, RankKeyOrdersByScoreThenSmallerIndexAndDecodes) {
  const float inf = std::numeric_limits<float>::infinity();
  // In output order: higher score first, equal scores by smaller index, -0
  // tying with +0.
  const std::vector<std::pair<float, std::int32_t>> order = {{inf, 3},     {2.5f, 0},  {2.5f, 7},
                                                             {0.0f, 1},    {-0.0f, 2}, {0.0f, 9},
                                                             {-1e-30f, 0}, {-3.0f, 4}, {-inf, 0}};
  for (std::size_t i = 0; i + 1 < order.size(); ++i) {
    EXPECT_GT(selection::rank_key(order[i].first, order[i].second),
              selection::rank_key(order[i + 1].first, order[i + 1].second))
        << "at " << i;
  }
  for (const auto& [score, item] : order) {
    const auto key = selection::rank_key(score, item);
    EXPECT_EQ(selection::key_score(key), score);
    EXPECT_EQ(selection::key_item(key), item);
  }
  EXPECT_FALSE(std::signbit(selection::key_score(selection::rank_key(-0.0f, 5))));
}

TEST(Selection, KthLargestMatchesSortingWithManyTies) {
  std::mt19937_64 rng(5);
  for (int n : {1, 2, 33, 100, 1000, 5000}) {
    for (int levels : {3, 1000000}) {
      std::uniform_int_distribution<int> dist(0, levels - 1);
      std::vector<float> values(n);
      for (auto& v : values) v = static_cast<float>(dist(rng)) - levels / 2.0f;
      std::vector<float> sorted = values;
      std::sort(sorted.begin(), sorted.end(), std::greater<>());
      for (int k : {1, n / 2 + 1, n}) {
        std::vector<float> a = values, tmp(n);
        EXPECT_EQ(selection::kth_largest(a.data(), tmp.data(), n, k), sorted[k - 1])
            << "n " << n << " k " << k << " levels " << levels;
      }
    }
  }
}

TEST(Selection, WriteRankedCountsOrSortsToTheSameOrder) {
  // 256 entries are ranked by counting, 257 and more by sorting.
  std::mt19937_64 rng(6);
  for (int count : {0, 1, 5, 256, 257, 1000}) {
    std::uniform_int_distribution<int> dist(-4, 4);
    std::vector<float> scores(count);
    std::vector<std::int32_t> items(count);
    for (int i = 0; i < count; ++i) {
      scores[i] = static_cast<float>(dist(rng));
      items[i] = (i * 7919) % 100003;  // distinct, in no order
    }
    std::vector<int> want(count);
    for (int i = 0; i < count; ++i) want[i] = i;
    std::sort(want.begin(), want.end(), [&](int a, int b) {
      return scores[a] > scores[b] || (scores[a] == scores[b] && items[a] < items[b]);
    });
    std::vector<std::uint64_t> keys(count);
    std::vector<std::int32_t> out_items(count);
    std::vector<float> out_scores(count);
    selection::write_ranked(Candidates{scores.data(), items.data()}, count, keys.data(),
                            out_items.data(), out_scores.data());
    for (int r = 0; r < count; ++r) {
      ASSERT_EQ(out_items[r], items[want[r]]) << "count " << count << " rank " << r;
      ASSERT_EQ(out_scores[r], scores[want[r]]) << "count " << count << " rank " << r;
    }
  }
}

}  // namespace
}  // namespace recs
