// Selection helpers shared by the exact and the approximate (ann) top-N
// kernels: the output order as one integer key, a branch-free k-th largest,
// and the final ranking of a user's kept candidates.
#pragma once

#include <bit>
#include <cstdint>

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

// Writes the `count` candidates (no NaN, distinct items) to items/scores in
// output order (higher score, then smaller item). `keys` is scratch for
// `count` entries.
void write_ranked(Candidates c, int count, std::uint64_t* keys, std::int32_t* items, float* scores);

}  // namespace recs::selection
