// The SQLite import writer: one IMMEDIATE transaction, bulk multi-row
// inserts, prepared UPDATE and DELETE statements for the few rows a
// re-import changes.
#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <iterator>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "db/bulk.h"
#include "db/import.h"
#include "db/sqlite.h"
#include "db/sqlite_error.h"
#include "db/sqlite_publish_sets.h"

namespace recs::db {
namespace {

class SqliteImportWriter final : public ImportWriter {
 public:
  explicit SqliteImportWriter(SQLite::Database& db)
      : db_(db), context_(db.getFilename() + ": import failed, the database is unchanged") {
    guard([&] {
      tx_.emplace(db_, SQLite::TransactionBehavior::IMMEDIATE);
      ratings_.emplace(db_, "ratings(user_id, movie_id, rating, rated_at)");
      update_.emplace(
          db_, "UPDATE ratings SET rating = ?, rated_at = ? WHERE user_id = ? AND movie_id = ?");
      remove_.emplace(db_, "DELETE FROM ratings WHERE user_id = ? AND movie_id = ?");
      // Every movie the database knows before the import: the ones it
      // removes are those not known after it.
      SQLite::Statement known(db_,
                              "SELECT movie_id FROM movies UNION SELECT movie_id FROM "
                              "movie_stats");
      while (known.executeStep()) known_movies_.push_back(known.getColumn(0).getInt64());
    });
  }

  void clear_movies() override {
    guard([&] {
      if (movies_) movies_->flush();
      old_catalog_.clear();
      SQLite::Statement q(db_, "SELECT movie_id, title, genres FROM movies");
      while (q.executeStep()) {
        old_catalog_.emplace(q.getColumn(0).getInt64(), std::make_pair(q.getColumn(1).getString(),
                                                                       q.getColumn(2).getString()));
      }
      catalog_ = CatalogChanges{};
      catalog_.before = static_cast<std::int64_t>(old_catalog_.size());
      db_.exec("DELETE FROM movies");
    });
  }

  void add_movie(std::int64_t movie_id, const std::string& title,
                 const std::string& genres) override {
    guard([&] {
      if (!movies_) movies_.emplace(db_, "movies(movie_id, title, genres)");
      movies_->row(movie_id, title, genres);
    });
    const auto it = old_catalog_.find(movie_id);
    if (it == old_catalog_.end()) {
      ++catalog_.added;
      return;
    }
    if (it->second.first != title || it->second.second != genres) ++catalog_.changed;
    old_catalog_.erase(it);
  }

  CatalogChanges catalog_changes() const override {
    CatalogChanges c = catalog_;
    c.removed = static_cast<std::int64_t>(old_catalog_.size());
    return c;
  }

  void insert_rating(std::int64_t user_id, std::int64_t movie_id, double rating,
                     std::int64_t rated_at) override {
    guard([&] { ratings_->row(user_id, movie_id, rating, rated_at); });
  }

  void update_rating(std::int64_t user_id, std::int64_t movie_id, double rating,
                     std::int64_t rated_at) override {
    guard([&] {
      update_->bind(1, rating);
      update_->bind(2, rated_at);
      update_->bind(3, user_id);
      update_->bind(4, movie_id);
      update_->exec();
      update_->reset();
    });
  }

  void delete_rating(std::int64_t user_id, std::int64_t movie_id) override {
    guard([&] {
      if (lost_ratings_.empty() || lost_ratings_.back() != user_id) {
        lost_ratings_.push_back(user_id);
      }
      lost_pairs_.emplace_back(user_id, movie_id);
      remove_->bind(1, user_id);
      remove_->bind(2, movie_id);
      remove_->exec();
      remove_->reset();
    });
  }

  void replace_movie_stats(const std::vector<MovieStat>& stats) override {
    guard([&] {
      db_.exec("DELETE FROM movie_stats");
      BulkInserter<std::int64_t, std::int64_t, double, std::int64_t> insert(
          db_, "movie_stats(movie_id, rating_count, mean_rating, popularity_rank)");
      for (const auto& s : stats) {
        insert.row(s.movie_id, s.rating_count, s.mean_rating, s.popularity_rank);
      }
      insert.flush();
      sets::mark_excluded(db_);
    });
  }

  std::vector<std::int64_t> new_movies() override {
    std::vector<std::int64_t> out;
    guard([&] {
      if (movies_) movies_->flush();
      ratings_->flush();
      std::vector<std::int64_t> before = known_movies_, now;
      std::sort(before.begin(), before.end());
      SQLite::Statement known(db_,
                              "SELECT movie_id FROM movies UNION SELECT movie_id FROM "
                              "movie_stats ORDER BY 1");
      while (known.executeStep()) now.push_back(known.getColumn(0).getInt64());
      std::set_difference(now.begin(), now.end(), before.begin(), before.end(),
                          std::back_inserter(out));
    });
    return out;
  }

  void exclude_from_fallback(const std::vector<std::int64_t>& movie_ids) override {
    guard([&] {
      SQLite::Statement add(db_, "INSERT OR IGNORE INTO excluded_movies (movie_id) VALUES (?)");
      for (std::int64_t movie : movie_ids) {
        add.bind(1, movie);
        add.exec();
        add.reset();
      }
      sets::mark_excluded(db_);
    });
  }

  ServedRemoval remove_from_served() override {
    ServedRemoval r;
    guard([&] {
      if (movies_) movies_->flush();
      ratings_->flush();
      std::vector<std::int64_t> users, movies;
      std::sort(lost_ratings_.begin(), lost_ratings_.end());
      lost_ratings_.erase(std::unique(lost_ratings_.begin(), lost_ratings_.end()),
                          lost_ratings_.end());
      {
        SQLite::Statement rated(db_, "SELECT 1 FROM ratings WHERE user_id = ? LIMIT 1");
        for (std::int64_t user : lost_ratings_) {
          rated.bind(1, user);
          if (!rated.executeStep()) users.push_back(user);
          rated.reset();
        }
        SQLite::Statement known(db_,
                                "SELECT 1 FROM movies WHERE movie_id = ?1 UNION ALL SELECT 1 "
                                "FROM movie_stats WHERE movie_id = ?1");
        for (std::int64_t movie : known_movies_) {
          known.bind(1, movie);
          if (!known.executeStep()) movies.push_back(movie);
          known.reset();
        }
      }
      r.users = static_cast<std::int64_t>(users.size());
      r.movies = static_cast<std::int64_t>(movies.size());
      const sets::Removed removed = sets::remove_gone(db_, users, movies);
      r.rows = removed.rows;
      r.sets = removed.sets;
      // A "because" naming a rating the user no longer has: the users the
      // import removed are gone already.
      std::erase_if(lost_pairs_, [&](const std::pair<std::int64_t, std::int64_t>& p) {
        return std::binary_search(users.begin(), users.end(), p.first);
      });
      r.because_cleared = sets::clear_because(db_, lost_pairs_);
    });
    return r;
  }

  void commit() override {
    guard([&] {
      if (movies_) movies_->flush();
      ratings_->flush();
      tx_->commit();
    });
  }

 private:
  template <typename Body>
  void guard(Body&& body) {
    translate_errors(context_, std::forward<Body>(body));
  }

  SQLite::Database& db_;
  std::string context_;
  // Declared before the statements, so destroyed after them: they are
  // finalized before an uncommitted transaction rolls back.
  std::optional<SQLite::Transaction> tx_;
  std::optional<BulkInserter<std::int64_t, std::int64_t, double, std::int64_t>> ratings_;
  std::optional<BulkInserter<std::int64_t, std::string, std::string>> movies_;
  std::optional<SQLite::Statement> update_;
  std::optional<SQLite::Statement> remove_;
  std::vector<std::int64_t> known_movies_;                         // before the import
  std::vector<std::pair<std::int64_t, std::int64_t>> lost_pairs_;  // deleted (user, movie)
  // The catalog clear_movies() emptied, less the movies added again since.
  std::unordered_map<std::int64_t, std::pair<std::string, std::string>> old_catalog_;
  CatalogChanges catalog_;
  std::vector<std::int64_t> lost_ratings_;  // users who lost a rating
};

}  // namespace

std::unique_ptr<ImportWriter> sqlite_import(SQLite::Database& db) {
  return std::make_unique<SqliteImportWriter>(db);
}

}  // namespace recs::db
