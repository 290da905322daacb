#include "data/ratings.h"

namespace recs {

UserItems UserItems::from(const RatingMatrix& r) {
  UserItems out;
  out.indptr.assign(static_cast<std::size_t>(r.num_users()) + 1, 0);
  for (auto u : r.user) ++out.indptr[static_cast<std::size_t>(u) + 1];
  for (std::size_t i = 1; i < out.indptr.size(); ++i) out.indptr[i] += out.indptr[i - 1];
  // Entries are sorted by (user, movie), so each row comes out sorted.
  out.indices.assign(r.movie.begin(), r.movie.end());
  return out;
}

}  // namespace recs
