// Why a movie was recommended: for each entry of a user's top-N, the movie
// the user rated that most supports it ("because you rated X"). The same
// rule serves every model type, as every model ends as user and movie
// vectors: the supporting movie is the user's liked movie whose vector is
// most similar (cosine over the taste columns) to the recommended one's.
#pragma once

#include <cstdint>
#include <vector>

#include "data/matrix.h"
#include "data/ratings.h"
#include "data/top_n.h"

namespace recs {

// The liked movies an explanation looks among, at most (the score stage's
// bound): the best rated, so a heavy rater's explanations cost no more than
// anyone's.
inline constexpr int kExplainLiked = 32;

// An entry with no supporting movie: the user rated no other movie the
// model knows.
inline constexpr std::int32_t kNoReason = -1;

class Explainer {
 public:
  // `movies`: every model movie's vector; `columns`: the taste columns
  // (taste_columns(), so a bias model's constant columns do not make every
  // movie alike); `rated`: per user, the movies rated (model movie indices,
  // ascending); `ratings`: the stored rating of each entry of rated.indices.
  // A user's liked movies are those rated at least the user's mean rating,
  // so a user who rated anything has at least one; of more than `max_liked`
  // (0: no bound), the max_liked best rated are kept, equal ratings going
  // to the longer taste vector (the movie the model knows best), then to
  // the smaller index, so a heavy rater's explanation costs no more than
  // anyone's. Only the user's own ratings and the model decide, so a shard
  // explains its users as one machine does. Keeps references to rated and
  // ratings.
  Explainer(const RowMatrix& movies, const std::vector<int>& columns, const UserItems& rated,
            const std::vector<float>& ratings, int max_liked = 0);

  // For every entry of `block` (user user_begin + i is row i of `rated`), the
  // model index of the liked movie with the highest cosine to the
  // recommended movie, never the movie itself (when no other liked movie is
  // left, the other rated movies are used); ties go to the smaller movie
  // index; kNoReason when the user rated no other movie. The block's items
  // index `candidates` (model movie indices), or model movies directly when
  // `candidates` is empty. Laid out as block.items (counts[i] entries at
  // i * top_n). Parallel over users on the calling TBB arena (isolated, so it
  // never runs a caller's unrelated tasks while it waits); the result does
  // not depend on the thread count. `cpu_seconds`, if given, gets the CPU
  // time its threads spent on it, summed (unlike wall time, not inflated by
  // other work sharing the cores).
  std::vector<std::int32_t> explain(const TopNBlock& block,
                                    const std::vector<std::int32_t>& candidates,
                                    double* cpu_seconds = nullptr) const;

 private:
  RowMatrix unit_;           // movies' taste columns, unit length
  std::vector<float> norm_;  // per movie: length of its taste columns
  const UserItems& rated_;
  const std::vector<float>& ratings_;
  int max_liked_;
};

}  // namespace recs
