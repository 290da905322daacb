// Ratings held in memory with dense indices, the form every model trains on.
#pragma once

#include <cstdint>
#include <vector>

namespace recs {

// Users and movies are numbered 0..n-1 in ascending order of their external
// id, so comparing dense indices compares ids (the kernel's tie-break relies
// on this). Entries are sorted by (user, movie).
struct RatingMatrix {
  std::vector<std::int64_t> user_ids;   // dense index -> external id, ascending
  std::vector<std::int64_t> movie_ids;  // dense index -> external id, ascending
  std::vector<std::int32_t> user;       // per rating: user index
  std::vector<std::int32_t> movie;      // per rating: movie index
  std::vector<float> value;             // per rating: the value trained on (after rating_map)

  std::size_t size() const { return value.size(); }
  int num_users() const { return static_cast<int>(user_ids.size()); }
  int num_movies() const { return static_cast<int>(movie_ids.size()); }
};

// Compressed rows: the movies each user rated, sorted ascending. The scoring
// kernel masks these before selection.
struct UserItems {
  std::vector<std::int64_t> indptr;  // num_users + 1 offsets into indices
  std::vector<std::int32_t> indices;

  static UserItems from(const RatingMatrix& r);
};

}  // namespace recs
