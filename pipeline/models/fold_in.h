// Fold-in: vectors for users the model has not seen, solved from their
// ratings against the model's fixed movie vectors, so users who rated after
// the last training are scored without retraining.
//
// Works in the exported space (score = user . movie), so it serves every
// model: a user column that is the same for every trained user (a bias
// model's constant 1) stays fixed at that value; the other columns are free.
//   rating models: ridge least squares on the (mapped) ratings,
//     min sum_i (r_i - u . v_i)^2 + l2 |u_free|^2;
//   implicit models: the weighted least squares of implicit ALS (Hu, Koren,
//     Volinsky 2008), preference 1 on positives, 0 on every other movie,
//     confidence 1 + alpha * r (or 1 + alpha) on positives, penalty l2; with
//     graded preferences (preference_top > 0) every rating r > 0 is an
//     interaction, preference min(1, r / preference_top), confidence 1 + alpha r.
// Which options a model type folds in with is its registry entry's policy
// (models/registry.h).
#pragma once

#include <cstdint>
#include <vector>

#include "data/matrix.h"

namespace recs {

struct FoldInOptions {
  bool implicit = false;
  double l2 = 0.1;
  double alpha = 1.0;               // implicit: confidence 1 + alpha * r
  double positive_threshold = 0.0;  // implicit: r >= this is a positive
  // Implicit: false weighs every positive 1 + alpha, whatever its rating.
  bool confidence_by_rating = true;
  // Whether the fixed columns' part of each score (a bias model's movie
  // bias) is part of the fit. false solves the free columns as if it were
  // zero and keeps it in the score: the biases of a ranking model offset its
  // ranking, not the 0/1 preferences an implicit fit targets.
  bool fit_fixed_part = true;
  // Implicit: the penalty of a user is l2 (m / mean_mass)^frequency_exponent,
  // m = the sum of its confidences, as implicit ALS trains it; 0 = flat l2.
  double frequency_exponent = 0.0;
  double mean_mass = 1.0;
  // Implicit: > 0, graded preferences (als's model.als.preference: graded):
  // every rating r > 0 is an interaction with preference
  // min(1, r / preference_top); 0: positives only, preference 1. A user
  // without a positive is not solved either way.
  double preference_top = 0.0;
  int threads = 0;  // 0 = all cores
};

// Ratings of the users to fold in, by row: movies[indptr[u]..indptr[u+1])
// are model movie indices, values the trained-scale ratings.
struct FoldInRatings {
  std::vector<std::int64_t> indptr;
  std::vector<std::int32_t> movies;
  std::vector<float> values;
  int rows() const { return indptr.empty() ? 0 : static_cast<int>(indptr.size()) - 1; }
};

// The columns of `users` whose value is the same for every row (and that
// value); at least two rows are needed to tell, with fewer none is fixed.
std::vector<int> constant_columns(const RowMatrix& m);

// One row per ratings row. `solved[u]` is false (and the row zero) when the
// user has nothing to solve from: no rated movie the model knows, or, for
// implicit models, no positive.
struct FoldInResult {
  RowMatrix users;
  std::vector<char> solved;
};

FoldInResult fold_in(const RowMatrix& trained_users, const RowMatrix& movies,
                     const FoldInRatings& ratings, const FoldInOptions& options);

}  // namespace recs
