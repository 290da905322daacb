#include "scoring/select.h"

#include <tbb/parallel_pipeline.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

namespace recs::selection {
namespace {

// write_ranked() ranks up to this many entries by counting, more by sorting.
constexpr int kRankSortMax = 256;

}  // namespace

float kth_largest(float* a, float* tmp, int n, int k) {
  // Bounded rounds: a run of unlucky pivots falls back to nth_element rather
  // than degrading to quadratic time.
  for (int round = 0; n > 32 && round < 24; ++round) {
    const float x = a[0], y = a[n / 2], z = a[n - 1];
    const float pivot = std::max(std::min(x, y), std::min(std::max(x, y), z));
    int hi = 0;  // tmp[0, hi): values > pivot
    int lo = n;  // tmp[lo, n): values < pivot; [hi, lo) stands for the pivot
    for (int i = 0; i < n; ++i) {
      const float v = a[i];
      tmp[hi] = v;
      tmp[lo - 1] = v;
      hi += v > pivot;
      lo -= v < pivot;
    }
    if (k <= hi) {
      n = hi;
    } else if (k <= lo) {
      return pivot;
    } else {
      k -= lo;
      n -= lo;
      tmp += lo;
    }
    std::swap(a, tmp);
  }
  std::nth_element(a, a + (k - 1), a + n, std::greater<>());
  return a[k - 1];
}

void write_ranked(Candidates c, int count, std::uint64_t* keys, std::int32_t* items,
                  float* scores) {
  for (int i = 0; i < count; ++i) keys[i] = rank_key(c.scores[i], c.items[i]);
  if (count <= kRankSortMax) {
    // Each entry's output position is the number of keys above it (keys are
    // unique): O(count^2) compares, but vectorised and branch-free, which
    // beats a comparison sort's mispredictions at this size.
    for (int i = 0; i < count; ++i) {
      const std::uint64_t key = keys[i];
      int rank = 0;
      for (int j = 0; j < count; ++j) rank += keys[j] > key;
      items[rank] = c.items[i];
      scores[rank] = c.scores[i];
    }
  } else {
    // Decoded from the keys: a -0 score comes back as +0.
    std::sort(keys, keys + count, std::greater<>());
    for (int i = 0; i < count; ++i) {
      items[i] = key_item(keys[i]);
      scores[i] = key_score(keys[i]);
    }
  }
}

void check_inputs(const char* kernel, const RowMatrix& users, const RowMatrix& movies,
                  const UserItems* exclude, const TopNOptions& options) {
  const std::string who = kernel;
  if (users.cols() != movies.cols()) {
    throw std::invalid_argument(who + ": users have " + std::to_string(users.cols()) +
                                " factors but movies have " + std::to_string(movies.cols()));
  }
  if (options.top_n < 0 || options.threads < 0) {
    throw std::invalid_argument(who + ": top_n and threads must be >= 0");
  }
  if (users.rows() > std::numeric_limits<std::int32_t>::max() ||
      movies.rows() > std::numeric_limits<std::int32_t>::max()) {
    throw std::invalid_argument(who + ": more than 2^31 - 1 users or movies");
  }
  if (exclude && (exclude->indptr.size() != static_cast<std::size_t>(users.rows()) + 1 ||
                  exclude->indptr.front() != 0 ||
                  exclude->indptr.back() > static_cast<std::int64_t>(exclude->indices.size()))) {
    throw std::invalid_argument(who + ": exclude has " + std::to_string(exclude->indptr.size()) +
                                " offsets for " + std::to_string(users.rows()) + " users and " +
                                std::to_string(exclude->indices.size()) + " indices");
  }
}

void score_in_blocks(int num_users, int user_block, int top_n, int threads,
                     const BlockScorer& score, const std::function<void(const TopNBlock&)>& prepare,
                     const std::function<void(const TopNBlock&)>& sink) {
  const int num_blocks =
      static_cast<int>((static_cast<long long>(num_users) + user_block - 1) / user_block);
  if (num_blocks == 0) return;
  tbb::task_arena arena(threads);
  arena.execute([&] {
    int next_block = 0;
    // A few tokens per thread keep every thread scoring while the sink (which
    // may be slow, e.g. a database write) drains finished blocks in order.
    tbb::parallel_pipeline(static_cast<std::size_t>(threads) * 3,
                           tbb::make_filter<void, int>(tbb::filter_mode::serial_in_order,
                                                       [&](tbb::flow_control& fc) -> int {
                                                         if (next_block == num_blocks) {
                                                           fc.stop();
                                                           return 0;
                                                         }
                                                         return next_block++;
                                                       }) &
                               tbb::make_filter<int, std::unique_ptr<TopNBlock>>(
                                   tbb::filter_mode::parallel,
                                   [&](int b) {
                                     auto block = std::make_unique<TopNBlock>();
                                     const long long begin = static_cast<long long>(b) * user_block;
                                     block->user_begin = static_cast<int>(begin);
                                     block->user_end = static_cast<int>(
                                         std::min<long long>(num_users, begin + user_block));
                                     block->top_n = top_n;
                                     const std::size_t nu = block->user_end - block->user_begin;
                                     block->items.resize(nu * top_n);
                                     block->scores.resize(nu * top_n);
                                     block->counts.resize(nu);
                                     score(block->user_begin, block->user_end, block->items.data(),
                                           block->scores.data(), block->counts.data());
                                     if (prepare) prepare(*block);
                                     return block;
                                   }) &
                               tbb::make_filter<std::unique_ptr<TopNBlock>, void>(
                                   tbb::filter_mode::serial_in_order,
                                   [&](std::unique_ptr<TopNBlock> block) { sink(*block); }));
  });
}

}  // namespace recs::selection
