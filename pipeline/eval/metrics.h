// Top-K ranking metrics over per-user recommendation lists, kept free of the
// database and the models so the arithmetic can be checked on tiny cases.
#pragma once

#include <cstdint>
#include <vector>

#include "data/ratings.h"
#include "data/top_n.h"

namespace recs::eval {

// Averages at one cut-off K over the evaluated users.
struct CutoffMetrics {
  int k = 0;
  double precision = 0;  // hits / K
  double recall = 0;     // hits / |relevant|
  double ndcg = 0;       // binary relevance, IDCG over min(|relevant|, K)
  double map = 0;        // average precision at K, normalised by min(|relevant|, K)
  double hit_rate = 0;   // share of users with at least one hit
  // Pooled over users: sum of hits / sum of min(|relevant|, K). A user with
  // more relevant items than K can still reach 1, so heavy raters do not
  // drag it down; benfred/implicit's ranking_metrics_at_k reports this
  // figure as "precision".
  double recall_capped = 0;
};

struct RankingMetrics {
  std::vector<CutoffMetrics> at;  // one per cut-off, in the order asked for
  // Distinct movies in the evaluated users' top-max(K) lists / num_movies.
  double coverage = 0;
  std::int64_t users_evaluated = 0;  // users with at least one relevant item
};

// Scores `top` (one list per user, covering users [top.user_begin,
// top.user_end), best first, top.top_n >= max(k)) against `relevant`: per
// user the relevant held-out movie indices, sorted ascending (UserItems CSR
// over the same users). Users without relevant items are skipped. With no
// evaluated user every average is NaN. Serial, so the sums do not depend on
// the thread count.
RankingMetrics ranking_metrics(const TopNBlock& top, const UserItems& relevant,
                               const std::vector<int>& k, int num_movies);

}  // namespace recs::eval
