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
};

}  // namespace recs::db
