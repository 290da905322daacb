#include "eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "util/error.h"

namespace recs::eval {

RankingMetrics ranking_metrics(const TopNBlock& top, const UserItems& relevant,
                               const std::vector<int>& k, int num_movies) {
  if (k.empty()) throw ConfigError("evaluate.k: no cut-offs given");
  const int max_k = *std::max_element(k.begin(), k.end());
  if (*std::min_element(k.begin(), k.end()) < 1) {
    throw ConfigError("evaluate.k: cut-offs must be positive");
  }
  if (top.top_n < max_k) {
    throw Error(ExitCode::kInternal, "ranking_metrics: lists of " + std::to_string(top.top_n) +
                                         " are shorter than K = " + std::to_string(max_k));
  }
  const int users = top.user_end - top.user_begin;
  if (relevant.indptr.size() < static_cast<std::size_t>(top.user_end) + 1) {
    throw Error(ExitCode::kInternal, "ranking_metrics: relevant sets cover fewer users");
  }

  // 1 / log2(r + 1) for ranks r = 1..max_k, shared by DCG and IDCG.
  std::vector<double> discount(static_cast<std::size_t>(max_k) + 1, 0.0);
  for (int r = 1; r <= max_k; ++r) discount[r] = 1.0 / std::log2(static_cast<double>(r) + 1.0);

  RankingMetrics out;
  out.at.resize(k.size());
  for (std::size_t j = 0; j < k.size(); ++j) out.at[j].k = k[j];
  std::vector<char> seen(static_cast<std::size_t>(std::max(num_movies, 0)), 0);
  std::int64_t distinct = 0;
  // Per rank r (1-based), for the current user: cumulative hits, DCG and the
  // sum of precision at each hit, so every cut-off reads its prefix.
  std::vector<int> hits(static_cast<std::size_t>(max_k) + 1);
  std::vector<double> dcg(static_cast<std::size_t>(max_k) + 1);
  std::vector<double> ap(static_cast<std::size_t>(max_k) + 1);
  // Per cut-off: the pooled denominator of recall_capped (its numerator
  // accumulates in recall_capped itself).
  std::vector<double> capped_div(k.size(), 0.0);

  for (int i = 0; i < users; ++i) {
    const int u = top.user_begin + i;
    const auto rel_begin = relevant.indices.begin() + relevant.indptr[u];
    const auto rel_end = relevant.indices.begin() + relevant.indptr[u + 1];
    const auto n_rel = static_cast<int>(rel_end - rel_begin);
    if (n_rel == 0) continue;
    ++out.users_evaluated;
    const int count = std::min(top.counts[i], max_k);
    const std::int32_t* items = top.items.data() + static_cast<std::size_t>(i) * top.top_n;
    for (int r = 1; r <= max_k; ++r) {
      const bool in_list = r <= count;
      const bool hit = in_list && std::binary_search(rel_begin, rel_end, items[r - 1]);
      hits[r] = hits[r - 1] + (hit ? 1 : 0);
      dcg[r] = dcg[r - 1] + (hit ? discount[r] : 0.0);
      ap[r] = ap[r - 1] + (hit ? static_cast<double>(hits[r]) / r : 0.0);
      if (in_list) {
        const auto m = items[r - 1];
        if (m >= 0 && m < num_movies && !seen[m]) {
          seen[m] = 1;
          ++distinct;
        }
      }
    }
    for (std::size_t j = 0; j < out.at.size(); ++j) {
      auto& c = out.at[j];
      const int ideal = std::min(n_rel, c.k);
      double idcg = 0;
      for (int r = 1; r <= ideal; ++r) idcg += discount[r];
      const int h = hits[c.k];
      c.precision += static_cast<double>(h) / c.k;
      c.recall += static_cast<double>(h) / n_rel;
      c.ndcg += dcg[c.k] / idcg;
      c.map += ap[c.k] / ideal;
      c.hit_rate += h > 0 ? 1.0 : 0.0;
      c.recall_capped += h;
      capped_div[j] += ideal;
    }
  }

  const double n = static_cast<double>(out.users_evaluated);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (std::size_t j = 0; j < out.at.size(); ++j) {
    auto& c = out.at[j];
    c.recall_capped = capped_div[j] > 0 ? c.recall_capped / capped_div[j] : nan;
    c.precision = n > 0 ? c.precision / n : nan;
    c.recall = n > 0 ? c.recall / n : nan;
    c.ndcg = n > 0 ? c.ndcg / n : nan;
    c.map = n > 0 ? c.map / n : nan;
    c.hit_rate = n > 0 ? c.hit_rate / n : nan;
  }
  out.coverage = num_movies > 0 && n > 0 ? static_cast<double>(distinct) / num_movies : nan;
  return out;
}

}  // namespace recs::eval
