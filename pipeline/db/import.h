// What the import writes: the catalog, the ratings merge and the popularity
// table, all in one write transaction that rolls back unless committed, so
// a failed or killed import leaves the database exactly as it was.
// Backend-neutral; db/sqlite.h makes the SQLite one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace recs::db {

// One row of movie_stats: popularity per rated movie for the fallback query.
struct MovieStat {
  std::int64_t movie_id = 0;
  std::int64_t rating_count = 0;
  double mean_rating = 0;
  std::int64_t popularity_rank = 0;  // 1 = most rated
};

class ImportWriter {
 public:
  // Destroyed without commit(), everything written is rolled back.
  virtual ~ImportWriter() = default;

  // Empties the catalog; add_movie() then fills it again.
  virtual void clear_movies() = 0;
  virtual void add_movie(std::int64_t movie_id, const std::string& title,
                         const std::string& genres) = 0;

  // The ratings merge: the caller pushes only what changed. Inserts come in
  // increasing (user, movie) order, so a first import is an append.
  virtual void insert_rating(std::int64_t user_id, std::int64_t movie_id, double rating,
                             std::int64_t rated_at) = 0;
  virtual void update_rating(std::int64_t user_id, std::int64_t movie_id, double rating,
                             std::int64_t rated_at) = 0;
  virtual void delete_rating(std::int64_t user_id, std::int64_t movie_id) = 0;

  // Replaces movie_stats as a whole.
  virtual void replace_movie_stats(const std::vector<MovieStat>& stats) = 0;

  // Writes what is pending and commits.
  virtual void commit() = 0;
};

}  // namespace recs::db
