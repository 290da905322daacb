// The catalog repository: what the stages read of the movies table.
// Backend-neutral; db/sqlite.h makes the SQLite one.
#pragma once

#include <cstdint>
#include <vector>

#include "data/movies.h"

namespace recs::db {

class CatalogRepository {
 public:
  virtual ~CatalogRepository() = default;

  // Movies in the catalog.
  virtual std::int64_t movie_count() = 0;

  // Every catalog movie with its genres, in no particular order.
  virtual std::vector<MovieGenres> movie_genres() = 0;

  // The movies the database still knows, ascending: those in the catalog
  // and those rated (with import.movies '' a rated movie may have no
  // catalog row). A movie an import removed since a model was trained is
  // in neither.
  virtual std::vector<std::int64_t> known_movie_ids() = 0;
};

}  // namespace recs::db
