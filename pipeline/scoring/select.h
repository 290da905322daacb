// Selection helpers shared by the exact and the approximate (ann) top-N
// kernels: the output order as one integer key, a branch-free k-th largest,
// and the final ranking of a user's kept candidates.
#pragma once

#include <tbb/enumerable_thread_specific.h>

#include <bit>
#include <cstdint>
#include <functional>

#include "scoring/topn.h"

namespace recs::selection {

// One integer whose unsigned order is the output order: higher score first,
// then smaller index (movie, or cluster when ann ranks a user's clusters).
// Unique per index, so sorting needs no tie logic. Never called with NaN.
inline std::uint64_t rank_key(float score, std::int32_t item) {
  // + 0.0f turns -0 into +0: the two compare equal as floats, so they must
  // tie here too and fall through to the index.
  std::uint32_t bits = std::bit_cast<std::uint32_t>(score + 0.0f);
  // Map IEEE order onto unsigned order: flip every bit of a negative, only
  // the sign bit of a positive.
  bits ^= (0u - (bits >> 31)) | 0x80000000u;
  return (std::uint64_t{bits} << 32) | (0xffffffffu - static_cast<std::uint32_t>(item));
}

// The score and the index a rank_key() was made from (a -0 score comes back
// as +0).
inline float key_score(std::uint64_t key) {
  std::uint32_t bits = static_cast<std::uint32_t>(key >> 32);
  bits = (bits & 0x80000000u) ? (bits ^ 0x80000000u) : ~bits;
  return std::bit_cast<float>(bits);
}

inline std::int32_t key_item(std::uint64_t key) {
  return static_cast<std::int32_t>(0xffffffffu - static_cast<std::uint32_t>(key));
}

// The k-th largest (1-based) of a[0, n), 1 <= k <= n, no NaN. Quickselect
// whose three-way partition is branch-free (every value is written to both
// ends and at most one cursor advances): candidate scores arrive in no useful
// order, so a branchy partition would mispredict about every other element.
// Clobbers a and tmp (n elements each).
float kth_largest(float* a, float* tmp, int n, int k);

// A user's candidates, structure-of-arrays so that score-only passes
// vectorise.
struct Candidates {
  float* scores;
  std::int32_t* items;
};

// Moves the candidates scoring at least `cut` to the front, in their order,
// and returns how many: branch-free, as which entries survive is data, not a
// pattern a branch predictor could learn.
inline int keep_at_least(Candidates c, int count, float cut) {
  int kept = 0;
  for (int i = 0; i < count; ++i) {
    const float v = c.scores[i];
    c.scores[kept] = v;
    c.items[kept] = c.items[i];
    kept += v >= cut;
  }
  return kept;
}

// Writes the `count` candidates (no NaN, distinct items) to items/scores in
// output order (higher score, then smaller item). `keys` is scratch for
// `count` entries.
void write_ranked(Candidates c, int count, std::uint64_t* keys, std::int32_t* items, float* scores);

// Throws std::invalid_argument, naming `kernel`, unless users and movies
// have the same number of factors, top_n and threads are >= 0, both counts
// fit in an int32, and `exclude` (if given) has one row per user.
void check_inputs(const char* kernel, const RowMatrix& users, const RowMatrix& movies,
                  const UserItems* exclude, const TopNOptions& options);

// Scores one block of users [user_begin, user_end) into items/scores
// (top_n per user, best first) and counts. Called from several threads at
// once, each call on its own block.
using BlockScorer = std::function<void(int user_begin, int user_end, std::int32_t* items,
                                       float* scores, std::int32_t* counts)>;

// Runs `score` over blocks of `user_block` users on a TBB arena of `threads`
// threads and hands each finished block to `sink` in user order, one call at
// a time, while later blocks are still being scored. `prepare`, if set, is
// called on each finished block in the parallel part, before its sink call.
void score_in_blocks(int num_users, int user_block, int top_n, int threads,
                     const BlockScorer& score, const std::function<void(const TopNBlock&)>& prepare,
                     const std::function<void(const TopNBlock&)>& sink);

// The same for a kernel's block function, which gets the kernel's problem
// and a Scratch of its own thread (one per thread, reused across its blocks).
template <typename Problem, typename Scratch>
void score_in_blocks(const Problem& problem, int num_users, int user_block, int top_n, int threads,
                     void (*score_block)(const Problem&, int, int, Scratch&, std::int32_t*, float*,
                                         std::int32_t*),
                     const std::function<void(const TopNBlock&)>& prepare,
                     const std::function<void(const TopNBlock&)>& sink) {
  tbb::enumerable_thread_specific<Scratch> scratch;
  score_in_blocks(
      num_users, user_block, top_n, threads,
      [&](int user_begin, int user_end, std::int32_t* items, float* scores, std::int32_t* counts) {
        score_block(problem, user_begin, user_end, scratch.local(), items, scores, counts);
      },
      prepare, sink);
}

}  // namespace recs::selection
