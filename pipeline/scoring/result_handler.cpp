#include "scoring/result_handler.h"

#include <algorithm>
#include <limits>

namespace recs::selection {

float TiesByArrival::prune(Candidates c, int count, int top_n, float* tmp,
                           std::vector<std::int32_t>& /*ties*/) {
  std::copy(c.scores, c.scores + count, tmp);
  const float cut = kth_largest(tmp, tmp + count, count, top_n);
  int at_least = 0;
  for (int i = 0; i < count; ++i) at_least += c.scores[i] >= cut;
  if (at_least == top_n) {
    // The usual case: no surplus ties at the cut.
    keep_at_least(c, count, cut);
  } else {
    // Several scores equal the cut: keep the earliest (smallest item) of
    // them, as many as fill top_n.
    int above = 0;
    for (int i = 0; i < count; ++i) above += c.scores[i] > cut;
    int ties_left = top_n - above;
    int kept = 0;
    for (int i = 0; i < count; ++i) {
      const float v = c.scores[i];
      const bool tie = v == cut;
      const bool keep = v > cut || (tie && ties_left > 0);
      ties_left -= tie;
      c.scores[kept] = v;
      c.items[kept] = c.items[i];
      kept += keep;
    }
  }
  return cut;
}

float TiesByItem::prune(Candidates c, int count, int top_n, float* tmp,
                        std::vector<std::int32_t>& ties) {
  std::copy(c.scores, c.scores + count, tmp);
  const float cut = kth_largest(tmp, tmp + count, count, top_n);
  int above = 0;
  int at_least = 0;
  for (int i = 0; i < count; ++i) {
    above += c.scores[i] > cut;
    at_least += c.scores[i] >= cut;
  }
  if (at_least == top_n) {
    keep_at_least(c, count, cut);
    return cut;
  }
  // Of the scores equal to the cut, those of items up to `last_tie` are kept.
  ties.clear();
  for (int i = 0; i < count; ++i) {
    if (c.scores[i] == cut) ties.push_back(c.items[i]);
  }
  const auto nth = ties.begin() + (top_n - above - 1);
  std::nth_element(ties.begin(), nth, ties.end());
  const std::int32_t last_tie = *nth;
  // Branch-free, as in keep_at_least().
  int kept = 0;
  for (int i = 0; i < count; ++i) {
    const float v = c.scores[i];
    const std::int32_t item = c.items[i];
    c.scores[kept] = v;
    c.items[kept] = item;
    kept += static_cast<int>(v > cut) |
            (static_cast<int>(v == cut) & static_cast<int>(item <= last_tie));
  }
  return cut;
}

BufferShape buffer_shape(int top_n, int capacity_ratio, int max_items, long long dense_items) {
  const long long n = std::max(top_n, 0);
  const long long capacity = std::min(std::max(capacity_ratio * n, n + 2LL * kDenseChunk),
                                      static_cast<long long>(max_items));
  BufferShape shape;
  shape.top_n = static_cast<int>(n);
  shape.capacity = static_cast<int>(std::max(capacity, 1LL));
  shape.dense_items =
      static_cast<int>(std::clamp(dense_items, 0LL, static_cast<long long>(max_items)));
  return shape;
}

}  // namespace recs::selection
