// Which users get personal rows. A user whose vector carries no signal (an
// implicit model's user without a single positive interaction, or any user
// whose best score is below the model type's floor) would be published a
// list of near-zero scores in arbitrary order; such a user gets no rows at
// all, so the web app serves sql/fallback.sql instead. Each model type
// declares its rule in its registry entry (models/registry.h); a user is
// dropped whole, never row by row, so a published list is always the
// user's complete top-N.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "data/top_n.h"

namespace recs {

struct SignalRule {
  // Implicit models: a user needs at least one (mapped) rating the type
  // counts as a positive interaction: >= positive_threshold, and > 0 too
  // when positive_above_zero.
  bool needs_positive = false;
  double positive_threshold = 0;
  bool positive_above_zero = false;
  // A user whose best score is below this gets no rows (-inf: no floor).
  double score_floor = -std::numeric_limits<double>::infinity();

  bool is_positive(float value) const {
    const double v = value;
    return v >= positive_threshold && (!positive_above_zero || v > 0);
  }
};

// Per user of a CSR over users (values[indptr[u]..indptr[u + 1]) are user u's
// mapped ratings), 1 when the rule lets the user be scored: always when the
// rule needs no positive, otherwise when one of the ratings is a positive.
std::vector<char> users_with_positive(const SignalRule& rule,
                                      const std::vector<std::int64_t>& indptr,
                                      const std::vector<float>& values);

// Empties (count 0) the list of every user in `block` whose best score is
// below rule.score_floor; returns how many lists it emptied. Lists that are
// already empty (a user who rated every candidate) and non-finite scores
// (refused by the caller's gate) are left alone.
std::int64_t drop_below_floor(const SignalRule& rule, TopNBlock& block);

// Whether drop_below_floor would empty any list of `block` (so a caller can
// skip copying blocks that keep every user).
bool any_below_floor(const SignalRule& rule, const TopNBlock& block);

}  // namespace recs
