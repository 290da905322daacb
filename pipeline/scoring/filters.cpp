#include "scoring/filters.h"

#include <algorithm>
#include <set>
#include <sstream>

namespace recs {

MovieFilters business_filters(const ScoreConfig& score) {
  MovieFilters f;
  f.allow_movies = score.allow_movies;
  f.exclude_movies = score.exclude_movies;
  f.exclude_genres = score.exclude_genres;
  return f;
}

namespace {

int index_of(const std::vector<std::int64_t>& ids, std::int64_t id) {
  auto it = std::lower_bound(ids.begin(), ids.end(), id);
  return it != ids.end() && *it == id ? static_cast<int>(it - ids.begin()) : -1;
}

}  // namespace

CandidateMovies candidate_movies(const std::vector<std::int64_t>& movie_ids, const MovieFilters& f,
                                 const std::vector<MovieGenres>& catalog) {
  CandidateMovies out;
  const std::size_t n = movie_ids.size();
  std::vector<char> keep(n, f.allow_movies.empty() ? 1 : 0);
  for (std::int64_t id : f.allow_movies) {
    const int m = index_of(movie_ids, id);
    if (m >= 0) {
      keep[static_cast<std::size_t>(m)] = 1;
    } else {
      ++out.unknown_allowed;
    }
  }
  for (std::int64_t id : f.exclude_movies) {
    const int m = index_of(movie_ids, id);
    if (m >= 0) {
      keep[static_cast<std::size_t>(m)] = 0;
    } else {
      ++out.unknown_excluded;
    }
  }
  if (!f.exclude_genres.empty()) {
    const std::set<std::string> banned(f.exclude_genres.begin(), f.exclude_genres.end());
    for (const MovieGenres& movie : catalog) {
      const int m = index_of(movie_ids, movie.movie_id);
      if (m < 0) continue;
      std::stringstream genres(movie.genres);
      std::string g;
      while (std::getline(genres, g, '|')) {
        if (banned.count(g)) {
          keep[static_cast<std::size_t>(m)] = 0;
          break;
        }
      }
    }
  }
  if (f.known) {
    for (std::size_t m = 0; m < n; ++m) {
      if (!std::binary_search(f.known->begin(), f.known->end(), movie_ids[m])) {
        out.removed.push_back(static_cast<std::int32_t>(m));
        keep[m] = 0;
      }
    }
  }
  for (std::size_t m = 0; m < n; ++m) {
    if (keep[m]) out.movies.push_back(static_cast<std::int32_t>(m));
  }
  return out;
}

std::vector<std::int64_t> excluded_movies(const std::vector<std::int64_t>& known,
                                          MovieFilters filters,
                                          const std::vector<MovieGenres>& catalog) {
  std::vector<std::int64_t> out;
  if (filters.allow_movies.empty() && filters.exclude_movies.empty() &&
      filters.exclude_genres.empty()) {
    return out;
  }
  filters.known = nullptr;
  const CandidateMovies kept = candidate_movies(known, filters, catalog);
  std::size_t next = 0;
  for (std::size_t m = 0; m < known.size(); ++m) {
    if (next < kept.movies.size() && static_cast<std::size_t>(kept.movies[next]) == m) {
      ++next;
    } else {
      out.push_back(known[m]);
    }
  }
  return out;
}

std::vector<std::int32_t> candidate_positions(const std::vector<std::int32_t>& candidates,
                                              std::size_t movies) {
  std::vector<std::int32_t> position(movies, -1);
  for (std::size_t j = 0; j < candidates.size(); ++j) {
    position[static_cast<std::size_t>(candidates[j])] = static_cast<std::int32_t>(j);
  }
  return position;
}

UserItems restrict_items(const UserItems& rated, const std::vector<std::int32_t>& position) {
  UserItems out;
  out.indptr.reserve(rated.indptr.size());
  out.indptr.push_back(0);
  for (std::size_t u = 0; u + 1 < rated.indptr.size(); ++u) {
    for (auto k = rated.indptr[u]; k < rated.indptr[u + 1]; ++k) {
      const std::int32_t p =
          position[static_cast<std::size_t>(rated.indices[static_cast<std::size_t>(k)])];
      if (p >= 0) out.indices.push_back(p);
    }
    out.indptr.push_back(static_cast<std::int64_t>(out.indices.size()));
  }
  return out;
}

}  // namespace recs
