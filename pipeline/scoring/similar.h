// Similar movies: top-K per movie by cosine similarity of movie vectors,
// computed with the one scoring kernel on unit-length vectors.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "data/matrix.h"
#include "data/top_n.h"

namespace recs {

// The columns that describe taste: those varying over both users and movies.
// A bias model's constant columns (user 1 x movie bias, user bias x movie 1)
// are left out, so they neither dominate a cosine nor a clustering.
std::vector<int> taste_columns(const RowMatrix& users, const RowMatrix& movies);

// Rows of `m` restricted to `columns` and scaled to unit length (a zero row
// stays zero).
RowMatrix unit_rows(const RowMatrix& m, const std::vector<int>& columns);
RowMatrix select_columns(const RowMatrix& m, const std::vector<int>& columns);

struct SimilarOptions {
  // Skip the candidate blocks an angular bound rules out (scoring/angular.h);
  // the lists are the same bit for bit. false: every pair is scored
  // (score_top_n, whose norm bound skips nothing on unit vectors).
  bool prune = true;
  // Optional: movie x candidate pairs the bound skipped, added to this.
  std::atomic<std::int64_t>* skipped = nullptr;
};

// For every movie (row of `movies`), its top_k among `candidates` (movie
// indices, ascending) by cosine over `columns`, never itself. Items in the
// result index `candidates`; ties go to the smaller movie index. The result
// does not depend on the thread count nor on options.prune.
TopNBlock similar_movies(const RowMatrix& movies, const std::vector<int>& columns,
                         const std::vector<std::int32_t>& candidates, int top_k, int threads,
                         const SimilarOptions& options = {});

}  // namespace recs
