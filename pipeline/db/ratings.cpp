// The forms of the stored ratings built on RatingsRepository::read.
#include "db/ratings.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>

#include "util/error.h"
#include "util/memory.h"

namespace recs::db {
namespace {

// Dense movie indices in id order. Ids are positive (the import checks);
// when they are compact enough a direct table replaces sorting them all.
void index_movies(const std::vector<std::int64_t>& movie_ext, RatingMatrix& r) {
  resize_huge(r.movie, movie_ext.size());
  const auto [min_it, max_it] = std::minmax_element(movie_ext.begin(), movie_ext.end());
  const std::int64_t min_id = movie_ext.empty() ? 0 : *min_it;
  const std::int64_t max_id = movie_ext.empty() ? 0 : *max_it;
  const auto limit = std::max<std::int64_t>(std::int64_t{1} << 22,
                                            4 * static_cast<std::int64_t>(movie_ext.size()));
  if (min_id >= 0 && max_id < limit) {
    std::vector<std::int32_t> index(static_cast<std::size_t>(max_id) + 1, -1);
    for (std::int64_t id : movie_ext) index[static_cast<std::size_t>(id)] = 0;
    for (std::size_t id = 0; id < index.size(); ++id) {
      if (index[id] == 0) {
        index[id] = static_cast<std::int32_t>(r.movie_ids.size());
        r.movie_ids.push_back(static_cast<std::int64_t>(id));
      }
    }
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, movie_ext.size(), 1 << 20),
                      [&](const tbb::blocked_range<std::size_t>& block) {
                        for (std::size_t i = block.begin(); i < block.end(); ++i) {
                          r.movie[i] = index[static_cast<std::size_t>(movie_ext[i])];
                        }
                      });
    return;
  }
  r.movie_ids = movie_ext;
  std::sort(r.movie_ids.begin(), r.movie_ids.end());
  r.movie_ids.erase(std::unique(r.movie_ids.begin(), r.movie_ids.end()), r.movie_ids.end());
  for (std::size_t i = 0; i < movie_ext.size(); ++i) {
    r.movie[i] = static_cast<std::int32_t>(
        std::lower_bound(r.movie_ids.begin(), r.movie_ids.end(), movie_ext[i]) -
        r.movie_ids.begin());
  }
}

}  // namespace

namespace {
// The columns of `s` (value filled) as a RatingMatrix.
RatingMatrix matrix_of(StoredRatings&& s, std::vector<double>* rating,
                       std::vector<std::int64_t>* rated_at) {
  RatingMatrix r;
  r.user_ids = std::move(s.user_ids);
  r.user = std::move(s.user);
  r.value = std::move(s.value);
  if (rating) *rating = std::move(s.rating);
  if (rated_at) *rated_at = std::move(s.rated_at);
  index_movies(s.movie, r);
  s = StoredRatings{};  // the external movie ids (8 bytes a row) are not needed again
  return r;
}

RatingMatrix read_matrix(RatingsRepository& ratings, const ValueMap& value,
                         const RatingsRequest& range, std::vector<double>* rating, bool require,
                         std::vector<std::int64_t>* rated_at) {
  RatingsRequest request = range;
  request.value = value;
  request.rating = rating != nullptr;
  request.rated_at = rated_at != nullptr;
  StoredRatings s = ratings.read(request);
  if (s.user.empty() && require) {
    throw NotFoundError(ratings.source() + ": no ratings (run 'pipeline import' first)");
  }
  return matrix_of(std::move(s), rating, rated_at);
}
}  // namespace

RatingMatrix to_rating_matrix(StoredRatings&& rows, const ValueMap& value, const std::string& where,
                              std::vector<double>* rating, std::vector<std::int64_t>* rated_at) {
  resize_huge(rows.value, rows.rating.size());
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, rows.rating.size(), 1 << 20),
                    [&](const tbb::blocked_range<std::size_t>& block) {
                      ValueCache map(&value, where);
                      for (std::size_t i = block.begin(); i < block.end(); ++i) {
                        rows.value[i] = map(rows.rating[i]);
                      }
                    });
  return matrix_of(std::move(rows), rating, rated_at);
}

RatingMatrix read_rating_matrix(RatingsRepository& ratings, const ValueMap& value,
                                std::vector<double>* rating, std::vector<std::int64_t>* rated_at,
                                bool parallel) {
  RatingsRequest range;
  range.parallel = parallel;
  return read_matrix(ratings, value, range, rating, true, rated_at);
}

RatingMatrix read_rating_matrix(RatingsRepository& ratings, const ValueMap& value,
                                const RatingsRequest& range, std::vector<double>* rating,
                                bool require) {
  return read_matrix(ratings, value, range, rating, require, nullptr);
}

StoredRatings read_stored_ratings(RatingsRepository& ratings, bool parallel) {
  RatingsRequest request;
  request.rating = true;
  request.rated_at = true;
  request.parallel = parallel;
  return ratings.read(request);
}

StoredRatingsAhead::StoredRatingsAhead(RatingsRepository& ratings)
    : ratings_(ratings), version_(ratings.version()), rows_(read_stored_ratings(ratings)) {}

const StoredRatings& StoredRatingsAhead::current() {
  const std::int64_t now = ratings_.version();
  if (now != version_) {
    rows_ = read_stored_ratings(ratings_);
    version_ = now;
    read_again_ = true;
  }
  return rows_;
}

}  // namespace recs::db
