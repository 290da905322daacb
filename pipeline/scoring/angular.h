// The similar-movies kernel: exact top-N by u . v like score_top_n, for
// vectors of about one length (unit rows: cosine), where score_top_n's norm
// bound skips nothing. Movie blocks are bounded by angle instead: the movies
// are grouped by direction (k-means on a sample of them), each group's
// movies ordered by their angle beta to its centre mu and cut into blocks of
// movie_block, and each block keeps, per group it holds, the range
// [beta_lo, beta_hi] of its members' angles. For a query q at angle alpha to
// mu, the triangle inequality on the sphere gives
//   angle(q, c) >= max(0, alpha - beta_hi, beta_lo - alpha)
// for every member c, so cos(q, c) is at most the cosine of that gap, and a
// block whose bound (with a margin far above float rounding) is below the
// query's current N-th best is skipped for it (a ring around mu, not only a
// cone: a query near the centre skips the group's outer blocks too).
// Queries are ordered by their nearest group and, per block of queries, the
// movie blocks by their summed bound, so that each query meets its nearest
// movies first and its N-th best rises early. Every score is formed by the
// one tile product (tile_product_rows: tile_product's arithmetic, the users
// read in place), exactly as the plain scan forms it, so a block is either
// scored exactly as there or skipped: the lists are score_top_n's bit for
// bit, ties included (settled by movie index), for any thread count. On the
// ML-25M-size 128-factor als model (59,047 movies, top 20) about 40 % of
// the movie x candidate pairs are skipped.
#pragma once

#include <atomic>
#include <cstdint>

#include "data/matrix.h"
#include "data/ratings.h"
#include "data/top_n.h"

namespace recs {

struct AngularOptions {
  int top_n = 20;
  int threads = 0;       // 0 = all cores
  int query_block = 64;  // queries sharing one order of the movie blocks
  // Movies per block the bound is taken over (rounded up to whole panels of
  // tile_panel_width()): smaller blocks have tighter bounds but smaller
  // tiles.
  int movie_block = 64;
  // Groups of movies by direction (at most the number of movies).
  int groups = 128;
  // Optional: query x movie pairs the bound skipped, added to this.
  std::atomic<std::int64_t>* skipped = nullptr;
};

// Every query (row of `queries`) against every movie, masking exclude's
// movies (may be null) before selection: the result of score_top_n(queries,
// movies, exclude, {top_n, threads}) bit for bit, in one block covering all
// queries. Exact for any vectors (the bound scales by the block's norms);
// it only saves work when the vectors cluster by direction. Throws
// std::invalid_argument for mismatched shapes or options out of range.
TopNBlock score_top_n_angular(const RowMatrix& queries, const RowMatrix& movies,
                              const UserItems* exclude, const AngularOptions& options);

}  // namespace recs
