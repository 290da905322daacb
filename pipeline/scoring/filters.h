// The business filters: which of the model's movies anyone may be
// recommended (score.allow_movies, score.exclude_movies,
// score.exclude_genres), and the rated sets seen through that candidate set.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"
#include "data/movies.h"
#include "data/ratings.h"

namespace recs {

struct MovieFilters {
  std::vector<std::int64_t> allow_movies;    // non-empty: only these movies are candidates
  std::vector<std::int64_t> exclude_movies;  // never these
  std::vector<std::string> exclude_genres;   // never a movie with any of these genres
  // Given: only these ids (ascending) are candidates, the movies the
  // database still knows; a model movie an import removed since training
  // (out of the catalog and no longer rated) is never recommended.
  const std::vector<std::int64_t>* known = nullptr;
};

// score.allow_movies, exclude_movies and exclude_genres (known unset).
MovieFilters business_filters(const ScoreConfig& score);

struct CandidateMovies {
  std::vector<std::int32_t> movies;   // model movie indices, ascending
  std::int64_t unknown_allowed = 0;   // ids in allow_movies the model does not know (ignored)
  std::int64_t unknown_excluded = 0;  // ids in exclude_movies the model does not know (ignored)
  std::vector<std::int32_t> removed;  // model movie indices left out as not in `known`, ascending
};

// `movie_ids` maps the model's movie indices to external ids (ascending).
// `catalog` gives the genres of the catalog's movies; only exclude_genres
// reads it, and a model movie missing from it is not excluded by genre.
// Exclusions win over allow_movies.
CandidateMovies candidate_movies(const std::vector<std::int64_t>& movie_ids,
                                 const MovieFilters& filters,
                                 const std::vector<MovieGenres>& catalog);

// The ids of `known` (ascending) that the filters keep out (`known` and
// the returned ids external, ascending); empty when no filter is set. The
// fallback for users without rows skips these, as the lists do.
std::vector<std::int64_t> excluded_movies(const std::vector<std::int64_t>& known,
                                          MovieFilters filters,
                                          const std::vector<MovieGenres>& catalog);

// For each movie index, its position among `candidates` (ascending movie
// indices), or -1; `movies` is the number of movie indices.
std::vector<std::int32_t> candidate_positions(const std::vector<std::int32_t>& candidates,
                                              std::size_t movies);

// The rated sets restricted to the candidates, in the candidates' index
// space (`position` from candidate_positions()).
UserItems restrict_items(const UserItems& rated, const std::vector<std::int32_t>& position);

}  // namespace recs
