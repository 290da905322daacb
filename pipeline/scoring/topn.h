// The one scoring kernel: every model exports user vectors U (users x d) and
// movie vectors V (movies x d); the score of (u, m) is U.row(u) . V.row(m).
// Exact top-N per user from tiled products, never materialising users x movies.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "data/matrix.h"
#include "data/ratings.h"
#include "data/top_n.h"

namespace recs {

struct TopNOptions {
  int top_n = 100;
  int threads = 0;         // 0 = all cores
  int user_block = 256;    // users per tile
  int movie_block = 1024;  // movies per tile
  // Optional per-block post-process: called once for every finished block in
  // the parallel part of the pipeline (several blocks at once, from any
  // thread), before that block reaches the sink. Lets a caller do per-block
  // work (e.g. explaining the entries) off the serial sink.
  std::function<void(const TopNBlock&)> prepare;
  // Skip the movies that cannot enter a user's top-N (LEMP, Teflioudi et
  // al. 2015): movies are scanned in blocks by descending vector norm, and a
  // user leaves the scan once |u| x the next block's largest |v| (with a
  // margin for rounding) is below its current N-th best score. The result
  // is the plain scan's, ties included. false: every pair is scored.
  bool prune = true;
  // Optional: user x movie pairs the pruning skipped, added to this.
  std::atomic<std::int64_t>* skipped = nullptr;
};

// Scores every user against every movie, masking exclude's movies (may be
// null) before selection, so each user gets min(top_n, movies - excluded)
// entries. `sink` receives the blocks in ascending user order, one call at a
// time (it may write to a database); scoring of later blocks overlaps it.
// The result does not depend on the thread count.
void score_top_n(const RowMatrix& users, const RowMatrix& movies, const UserItems* exclude,
                 const TopNOptions& options, const std::function<void(const TopNBlock&)>& sink);

// Convenience: everything in one block covering all users.
TopNBlock score_top_n(const RowMatrix& users, const RowMatrix& movies, const UserItems* exclude,
                      const TopNOptions& options);

}  // namespace recs
