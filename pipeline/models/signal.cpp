#include "models/signal.h"

#include <algorithm>
#include <cstddef>

namespace recs {
namespace {

bool below_floor(const SignalRule& rule, const TopNBlock& block, std::size_t i) {
  if (block.counts[i] <= 0) return false;
  // The best score comes first; NaN compares false and stays for the gate.
  const double best = block.scores[i * static_cast<std::size_t>(block.top_n)];
  return best < rule.score_floor;
}

}  // namespace

std::vector<char> users_with_positive(const SignalRule& rule,
                                      const std::vector<std::int64_t>& indptr,
                                      const std::vector<float>& values) {
  const std::size_t users = indptr.empty() ? 0 : indptr.size() - 1;
  std::vector<char> keep(users, 1);
  if (!rule.needs_positive) return keep;
  for (std::size_t u = 0; u < users; ++u) {
    const auto b = values.begin() + indptr[u];
    const auto e = values.begin() + indptr[u + 1];
    keep[u] = std::any_of(b, e, [&](float v) { return rule.is_positive(v); });
  }
  return keep;
}

bool any_below_floor(const SignalRule& rule, const TopNBlock& block) {
  for (std::size_t i = 0; i < block.counts.size(); ++i) {
    if (below_floor(rule, block, i)) return true;
  }
  return false;
}

std::int64_t drop_below_floor(const SignalRule& rule, TopNBlock& block) {
  std::int64_t dropped = 0;
  for (std::size_t i = 0; i < block.counts.size(); ++i) {
    if (!below_floor(rule, block, i)) continue;
    block.counts[i] = 0;
    ++dropped;
  }
  return dropped;
}

}  // namespace recs
