#include "scoring/select.h"

#include <algorithm>
#include <functional>
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

}  // namespace recs::selection
