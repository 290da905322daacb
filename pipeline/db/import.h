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

// What remove_from_served() took out.
struct ServedRemoval {
  std::int64_t users = 0;   // users the import removed
  std::int64_t movies = 0;  // movies it removed
  std::int64_t rows = 0;    // recommendation rows dropped, over every set
  std::int64_t sets = 0;    // published sets (live and kept) that held any of them
  // Rows whose "because" named a movie whose rating by that user the import
  // deleted: that explanation is cleared (NULL), over every set.
  std::int64_t because_cleared = 0;
};

// How an import changed the catalog (the movies table).
struct CatalogChanges {
  std::int64_t before = 0;  // movies in the catalog before the import
  std::int64_t added = 0, changed = 0, removed = 0;
};

class ImportWriter {
 public:
  // Destroyed without commit(), everything written is rolled back.
  virtual ~ImportWriter() = default;

  // Empties the catalog; add_movie() then fills it again.
  virtual void clear_movies() = 0;
  virtual void add_movie(std::int64_t movie_id, const std::string& title,
                         const std::string& genres) = 0;
  // What the add_movie() calls since clear_movies() changed against the
  // catalog it emptied: movies new to it, with another title or genres, and
  // not given again.
  virtual CatalogChanges catalog_changes() const = 0;

  // The ratings merge: the caller pushes only what changed. Inserts come in
  // increasing (user, movie) order, so a first import is an append.
  virtual void insert_rating(std::int64_t user_id, std::int64_t movie_id, double rating,
                             std::int64_t rated_at) = 0;
  virtual void update_rating(std::int64_t user_id, std::int64_t movie_id, double rating,
                             std::int64_t rated_at) = 0;
  virtual void delete_rating(std::int64_t user_id, std::int64_t movie_id) = 0;

  // Replaces movie_stats as a whole.
  virtual void replace_movie_stats(const std::vector<MovieStat>& stats) = 0;

  // The movies the database knows after this import's writes (catalog or
  // rated: call it after replace_movie_stats) that it did not know before,
  // ascending.
  virtual std::vector<std::int64_t> new_movies() = 0;
  // Adds movies to the live set's excluded_movies, which the fallback for
  // users without rows skips (a movie first known after the publish that
  // the business filters keep out).
  virtual void exclude_from_fallback(const std::vector<std::int64_t>& movie_ids) = 0;

  // Called last, before commit(): takes the users and movies this import
  // removed (a user with no rating left, a movie neither in the catalog nor
  // rated any more) out of every published set, the live one and the kept
  // ones, so that no reader or rollback serves them. Lists are renumbered
  // from rank 1 and the sets' counts follow. Cheap when nothing was removed.
  virtual ServedRemoval remove_from_served() = 0;

  // Writes what is pending and commits.
  virtual void commit() = 0;
};

}  // namespace recs::db
