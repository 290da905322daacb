// The result handler both top-N kernels share, fed directly and checked
// against a plain sort: both tie policies, rows cut at random, N beyond the
// candidates, masked (NaN) and infinite entries.
#include "scoring/result_handler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

namespace recs {
namespace {

using selection::BufferShape;
using selection::ResultHandler;
using selection::TiesByArrival;
using selection::TiesByItem;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// One user's entries in the order they are fed.
struct Feed {
  std::vector<float> scores;
  std::vector<std::int32_t> items;
};

// The best min(top_n, non-NaN entries) by higher score, then smaller item.
std::vector<std::pair<float, std::int32_t>> plain_sort(const Feed& feed, int top_n) {
  std::vector<std::pair<float, std::int32_t>> all;
  for (std::size_t k = 0; k < feed.scores.size(); ++k) {
    if (!std::isnan(feed.scores[k])) all.emplace_back(feed.scores[k], feed.items[k]);
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  });
  all.resize(std::min<std::size_t>(all.size(), top_n));
  return all;
}

// Feeds every user's entries in rows of random length (each user's rows
// interleaved with the others', as a kernel does) and checks the result
// against plain_sort().
template <typename Ties>
void expect_plain_sort(const std::vector<Feed>& feeds, const BufferShape& shape,
                       std::mt19937_64& rng, const char* what) {
  const int users = static_cast<int>(feeds.size());
  ResultHandler<Ties> handler;
  // Twice: the second block reuses the first one's memory.
  for (int round = 0; round < 2; ++round) {
    handler.begin_block(shape, users);
    std::vector<std::size_t> fed(users, 0);
    for (bool more = true; more;) {
      more = false;
      for (int u = 0; u < users; ++u) {
        const std::size_t left = feeds[u].scores.size() - fed[u];
        if (left == 0) continue;
        const std::size_t n =
            std::uniform_int_distribution<std::size_t>(1, std::min<std::size_t>(left, 300))(rng);
        const std::int32_t* items = feeds[u].items.data() + fed[u];
        handler.add_row(u, feeds[u].scores.data() + fed[u], static_cast<int>(n),
                        [items](int k) { return items[k]; });
        fed[u] += n;
        more = more || fed[u] < feeds[u].scores.size();
      }
    }
    const std::size_t top_n = shape.top_n;
    std::vector<std::int32_t> items(users * top_n, -1), counts(users, -1);
    std::vector<float> scores(users * top_n, kNaN);
    handler.end_block(items.data(), scores.data(), counts.data());
    for (int u = 0; u < users; ++u) {
      const auto want = plain_sort(feeds[u], shape.top_n);
      ASSERT_EQ(counts[u], static_cast<int>(want.size())) << what << ", user " << u;
      for (std::size_t r = 0; r < want.size(); ++r) {
        ASSERT_EQ(items[u * top_n + r], want[r].second) << what << ", user " << u << " rank " << r;
        ASSERT_EQ(scores[u * top_n + r], want[r].first) << what << ", user " << u << " rank " << r;
      }
    }
  }
}

// `users` feeds of `n` entries each over items 0..n-1, scores drawn from
// `levels` values (few levels: many ties), a share of them NaN (masked).
std::vector<Feed> random_feeds(int users, int n, int levels, double masked, bool shuffled,
                               std::mt19937_64& rng) {
  std::uniform_int_distribution<int> level(0, levels - 1);
  std::bernoulli_distribution mask(masked);
  std::vector<Feed> feeds(users);
  for (auto& f : feeds) {
    f.items.resize(n);
    std::iota(f.items.begin(), f.items.end(), 0);
    if (shuffled) std::shuffle(f.items.begin(), f.items.end(), rng);
    f.scores.resize(n);
    for (auto& s : f.scores) s = mask(rng) ? kNaN : static_cast<float>(level(rng)) - levels / 2;
  }
  return feeds;
}

TEST(ResultHandler, ArrivalTiesMatchPlainSortOnItemsInOrder) {
  std::mt19937_64 rng(11);
  for (int top_n : {1, 7, 100}) {
    for (int levels : {2, 5, 1000000}) {
      for (long long dense : {0LL, 32LL * top_n}) {
        const int n = 5000;
        const auto feeds = random_feeds(6, n, levels, 0.1, false, rng);
        expect_plain_sort<TiesByArrival>(feeds, selection::buffer_shape(top_n, 2, n, dense), rng,
                                         "arrival");
      }
    }
  }
}

TEST(ResultHandler, ItemTiesMatchPlainSortOnItemsInAnyOrder) {
  std::mt19937_64 rng(12);
  for (int top_n : {1, 7, 100}) {
    for (int levels : {2, 5, 1000000}) {
      for (long long dense : {0LL, 32LL * top_n}) {
        const int n = 5000;
        const auto feeds = random_feeds(6, n, levels, 0.1, true, rng);
        expect_plain_sort<TiesByItem>(feeds, selection::buffer_shape(top_n, 3, n, dense), rng,
                                      "item");
      }
    }
  }
}

// The best `top_n` of `n` equal scores, items fed from n - 1 down to 0 in
// rows of 7.
template <typename Ties>
std::vector<std::int32_t> equal_scores_fed_descending(int n, int top_n) {
  std::vector<float> row(7, 1.0f);
  ResultHandler<Ties> handler;
  handler.begin_block(selection::buffer_shape(top_n, 2, n, 0), 1);
  for (int first = n - 1; first >= 0; first -= 7) {
    const int len = std::min(7, first + 1);
    handler.add_row(0, row.data(), len, [first](int k) { return first - k; });
  }
  std::vector<std::int32_t> items(top_n), count(1);
  std::vector<float> scores(top_n);
  handler.end_block(items.data(), scores.data(), count.data());
  items.resize(count[0]);
  return items;
}

TEST(ResultHandler, TheTieRulesDifferInWhatTheyAssumeOfTheArrivalOrder) {
  // 1000 equal scores through a buffer of 130: compacted mid-stream. By item,
  // the smallest items win whatever the order they came in.
  EXPECT_EQ(equal_scores_fed_descending<TiesByItem>(1000, 2), (std::vector<std::int32_t>{0, 1}));
  // By arrival, the first to arrive win: right only when items ascend (the
  // exact kernel's contract), shown here by breaking it.
  EXPECT_EQ(equal_scores_fed_descending<TiesByArrival>(1000, 2),
            (std::vector<std::int32_t>{998, 999}));
}

// Short rows, as the similar-movies kernel feeds (one movie block at a
// time): the dense chunks can leave a user's buffer exactly full when its
// dense regime ends, and the next sparse admission must compact first
// rather than write past it (into the next user's buffer).
template <typename Ties>
void expect_full_buffer_compacted_before_a_sparse_admission() {
  const int top_n = 1;
  const BufferShape shape = selection::buffer_shape(top_n, 2, 1000, 256);
  ASSERT_EQ(shape.capacity, top_n + 2 * selection::kDenseChunk);
  ResultHandler<Ties> handler;
  handler.begin_block(shape, 2);
  // User 1 first: one low entry, which user 0 must not overwrite.
  const float low = -1.0f;
  handler.add_row(1, &low, 1, [](int) { return 7; });
  // User 0, rising scores: 130 entries (compacted once, 3 held), then 126
  // (exactly full at 129 = capacity), then sparse ones beyond the dense 256.
  std::vector<float> rising(300);
  std::iota(rising.begin(), rising.end(), 0.0f);
  handler.add_row(0, rising.data(), 130, [](int k) { return k; });
  handler.add_row(0, rising.data() + 130, 126, [](int k) { return 130 + k; });
  handler.add_row(0, rising.data() + 256, 44, [](int k) { return 256 + k; });
  std::vector<std::int32_t> items(2 * top_n), counts(2);
  std::vector<float> scores(2 * top_n);
  handler.end_block(items.data(), scores.data(), counts.data());
  EXPECT_EQ(counts, (std::vector<std::int32_t>{1, 1}));
  EXPECT_EQ(items[0], 299);
  EXPECT_EQ(scores[0], 299.0f);
  EXPECT_EQ(items[1], 7);
  EXPECT_EQ(scores[1], low);
}

TEST(ResultHandler, ABufferLeftFullByTheDenseChunksIsCompactedBeforeASparseAdmission) {
  expect_full_buffer_compacted_before_a_sparse_admission<TiesByArrival>();
  expect_full_buffer_compacted_before_a_sparse_admission<TiesByItem>();
}

TEST(ResultHandler, TopNBeyondTheCandidatesKeepsEveryNonMaskedEntry) {
  std::mt19937_64 rng(14);
  for (int n : {0, 1, 63, 64, 65, 200}) {
    // top_n above the entries: the buffer is the entry count and never
    // compacts. -inf is a score like any other.
    auto feeds = random_feeds(3, n, 4, 0.2, false, rng);
    if (n > 0) feeds[0].scores[0] = -kInf;
    if (n > 1) feeds[1].scores[n - 1] = kInf;
    expect_plain_sort<TiesByArrival>(feeds, selection::buffer_shape(n + 5, 2, n, 0), rng,
                                     "arrival");
    for (auto& f : feeds) std::shuffle(f.items.begin(), f.items.end(), rng);
    expect_plain_sort<TiesByItem>(feeds, selection::buffer_shape(n + 5, 3, n, 0), rng, "item");
  }
}

TEST(ResultHandler, EverythingMaskedGivesEmptyLists) {
  std::mt19937_64 rng(15);
  const int n = 3000;
  auto feeds = random_feeds(4, n, 10, 1.0, false, rng);
  // One user with only -inf left: still selected, unlike NaN.
  for (int k = 0; k < n; k += 100) feeds[3].scores[k] = -kInf;
  expect_plain_sort<TiesByArrival>(feeds, selection::buffer_shape(10, 2, n, 320), rng, "arrival");
  expect_plain_sort<TiesByItem>(feeds, selection::buffer_shape(10, 3, n, 0), rng, "item");
}

TEST(ResultHandler, TopNZeroWritesNothing) {
  ResultHandler<TiesByItem> handler;
  handler.begin_block(selection::buffer_shape(0, 3, 100, 0), 2);
  const std::vector<float> row(100, 1.0f);
  handler.add_row(1, row.data(), 100, [](int k) { return k; });
  std::int32_t counts[2] = {-1, -1};
  handler.end_block(nullptr, nullptr, counts);
  EXPECT_EQ(counts[0], 0);
  EXPECT_EQ(counts[1], 0);
}

TEST(ResultHandler, BufferShape) {
  // At least top_n plus two dense chunks, at most the entries a user gets.
  EXPECT_EQ(selection::buffer_shape(100, 2, 59047, 3200).capacity, 228);
  EXPECT_EQ(selection::buffer_shape(100, 3, 59047, 0).capacity, 300);
  EXPECT_EQ(selection::buffer_shape(100, 2, 150, 3200).capacity, 150);
  EXPECT_EQ(selection::buffer_shape(100, 2, 150, 3200).dense_items, 150);
  EXPECT_EQ(selection::buffer_shape(5, 2, 0, 160).capacity, 1);
}

}  // namespace
}  // namespace recs
