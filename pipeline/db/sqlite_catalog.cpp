// The SQLite catalog repository.
#include <SQLiteCpp/SQLiteCpp.h>

#include "db/catalog.h"
#include "db/sqlite.h"
#include "db/sqlite_error.h"

namespace recs::db {
namespace {

class SqliteCatalog final : public CatalogRepository {
 public:
  explicit SqliteCatalog(SQLite::Database& db) : db_(db) {}

  std::int64_t movie_count() override {
    return translate_errors(
        db_, [&] { return db_.execAndGet("SELECT count(*) FROM movies").getInt64(); });
  }

  std::vector<MovieGenres> movie_genres() override {
    return translate_errors(db_, [&] {
      std::vector<MovieGenres> out;
      SQLite::Statement q(db_, "SELECT movie_id, genres FROM movies");
      while (q.executeStep())
        out.push_back({q.getColumn(0).getInt64(), q.getColumn(1).getString()});
      return out;
    });
  }

  std::vector<std::int64_t> known_movie_ids() override {
    return translate_errors(db_, [&] {
      std::vector<std::int64_t> out;
      SQLite::Statement q(db_,
                          "SELECT movie_id FROM movies UNION SELECT movie_id FROM movie_stats "
                          "ORDER BY movie_id");
      while (q.executeStep()) out.push_back(q.getColumn(0).getInt64());
      return out;
    });
  }

 private:
  SQLite::Database& db_;
};

}  // namespace

std::unique_ptr<CatalogRepository> sqlite_catalog(SQLite::Database& db) {
  return std::make_unique<SqliteCatalog>(db);
}

}  // namespace recs::db
