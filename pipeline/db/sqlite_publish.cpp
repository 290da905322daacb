// The SQLite publisher: the old set is kept (renamed, see
// db/sqlite_publish_sets.h) or deleted, and the new one inserted, inside one
// write transaction committed at once. In WAL mode readers keep seeing the
// old complete set until the commit and the new complete set after it; a
// failure, or a kill at any moment, leaves the old set (the uncommitted WAL
// frames are ignored).
#include <SQLiteCpp/SQLiteCpp.h>

#include <cmath>
#include <optional>
#include <span>

#include "db/bulk.h"
#include "db/database.h"
#include "db/publish.h"
#include "db/sqlite.h"
#include "db/sqlite_error.h"
#include "db/sqlite_publish_sets.h"

namespace recs::db {
namespace {

using RowInserter = BulkInserter<std::int64_t, std::int64_t, std::int64_t, double>;
using RecommendationInserter =
    BulkInserter<std::int64_t, std::int64_t, std::int64_t, double, std::optional<std::int64_t>>;

class SqlitePublisher final : public Publisher {
  // Every failure names the database and says the previous set stays.
  template <typename Body>
  decltype(auto) guard(Body&& body) {
    return translate_errors(context_, std::forward<Body>(body));
  }

 public:
  SqlitePublisher(SQLite::Database& db, int keep_sets)
      : db_(db),
        context_(db.getFilename() +
                 ": publishing failed, the previous recommendations stay in place") {
    // Begins the write transaction and, inside it, keeps or clears the old
    // set; the statements are prepared on the tables that will be live.
    guard([&] {
      tx_.emplace(db_, SQLite::TransactionBehavior::IMMEDIATE);
      bool kept = false;
      if (keep_sets >= 2) {
        removed_ = sets::trim(db_, keep_sets - 2);
        const sets::LiveDdl ddl = sets::live_ddl(db_);
        sets::PlainRenames plain(db_);
        kept = sets::retire_live(db_, ddl).has_value();
        if (kept) sets::create_live(db_, ddl);
      } else {
        removed_ = sets::trim(db_, 0);
      }
      // Nothing kept (keep_sets 1, or nothing was published): delete in place.
      if (!kept) db_.exec("DELETE FROM recommendations");
      insert_.emplace(db_, "recommendations(user_id, rank, movie_id, score, because_movie_id)");
    });
  }

  bool add(const TopNBlock& block, const std::vector<std::int64_t>& user_ids,
           const std::vector<std::int64_t>& movie_ids,
           std::span<const std::int64_t> because) override {
    return guard([&] { return write_block(block, user_ids, movie_ids, because); });
  }

  bool replace_similar(const TopNBlock& similar, const std::vector<std::int64_t>& row_ids,
                       const std::vector<std::int64_t>& candidate_ids) override {
    return guard([&] { return write_similar(similar, row_ids, candidate_ids); });
  }

  void replace_clusters(const ClusterRows& users, const ClusterRows& movies,
                        const std::vector<ClusterPopularRow>& popular) override {
    guard([&] { write_clusters(users, movies, popular); });
  }

  void commit(std::int64_t run_id, std::optional<std::int64_t> model_id, int top_n,
              const PublicationExtras& extras) override {
    guard([&] { write_publication(run_id, model_id, top_n, extras); });
  }

  std::int64_t rows() const override { return insert_->rows_written(); }
  std::int64_t users() const override { return users_; }
  const std::vector<KeptSet>& removed() const override { return removed_; }

 private:
  bool write_block(const TopNBlock& block, const std::vector<std::int64_t>& user_ids,
                   const std::vector<std::int64_t>& movie_ids,
                   std::span<const std::int64_t> because);
  bool write_similar(const TopNBlock& similar, const std::vector<std::int64_t>& row_ids,
                     const std::vector<std::int64_t>& candidate_ids);
  void write_clusters(const ClusterRows& users, const ClusterRows& movies,
                      const std::vector<ClusterPopularRow>& popular);
  void write_publication(std::int64_t run_id, std::optional<std::int64_t> model_id, int top_n,
                         const PublicationExtras& extras);

  SQLite::Database& db_;
  std::string context_;
  // Declared before the statements, so destroyed after them: they are
  // finalized before an uncommitted transaction rolls back.
  std::optional<SQLite::Transaction> tx_;
  std::optional<RecommendationInserter> insert_;
  std::int64_t users_ = 0;
  std::vector<KeptSet> removed_;
  bool similar_written_ = false;
  bool clusters_written_ = false;
};

bool SqlitePublisher::write_block(const TopNBlock& b, const std::vector<std::int64_t>& user_ids,
                                  const std::vector<std::int64_t>& movie_ids,
                                  std::span<const std::int64_t> because) {
  bool finite = true;
  for (int i = 0; i < b.user_end - b.user_begin; ++i) {
    std::int64_t user = user_ids[static_cast<std::size_t>(b.user_begin + i)];
    std::size_t base = static_cast<std::size_t>(i) * static_cast<std::size_t>(b.top_n);
    users_ += b.counts[static_cast<std::size_t>(i)] > 0;
    for (int k = 0; k < b.counts[static_cast<std::size_t>(i)]; ++k) {
      const std::size_t at = base + static_cast<std::size_t>(k);
      float score = b.scores[at];
      finite &= std::isfinite(score);
      std::optional<std::int64_t> why;
      if (!because.empty() && because[at] != kNoBecause) why = because[at];
      insert_->row(user, std::int64_t{k + 1}, movie_ids[static_cast<std::size_t>(b.items[at])],
                   static_cast<double>(score), why);
    }
  }
  return finite;
}

bool SqlitePublisher::write_similar(const TopNBlock& b, const std::vector<std::int64_t>& row_ids,
                                    const std::vector<std::int64_t>& candidate_ids) {
  db_.exec("DELETE FROM similar_movies");
  similar_written_ = true;
  RowInserter insert(db_, "similar_movies(movie_id, rank, similar_movie_id, score)");
  bool finite = true;
  for (int i = 0; i < b.user_end - b.user_begin; ++i) {
    const std::int64_t movie = row_ids[static_cast<std::size_t>(b.user_begin + i)];
    const std::size_t base = static_cast<std::size_t>(i) * static_cast<std::size_t>(b.top_n);
    for (int k = 0; k < b.counts[static_cast<std::size_t>(i)]; ++k) {
      const float score = b.scores[base + static_cast<std::size_t>(k)];
      finite &= std::isfinite(score);
      insert.row(
          movie, std::int64_t{k + 1},
          candidate_ids[static_cast<std::size_t>(b.items[base + static_cast<std::size_t>(k)])],
          static_cast<double>(score));
    }
  }
  insert.flush();
  return finite;
}

void SqlitePublisher::write_clusters(const ClusterRows& users, const ClusterRows& movies,
                                     const std::vector<ClusterPopularRow>& popular) {
  clusters_written_ = true;
  auto write = [&](const ClusterRows& rows, const char* table, const char* target) {
    db_.exec(std::string("DELETE FROM ") + table);
    BulkInserter<std::int64_t, std::int64_t, double> insert(db_, target);
    for (std::size_t i = 0; i < rows.ids.size(); ++i) {
      insert.row(rows.ids[i], std::int64_t{rows.cluster[i]}, static_cast<double>(rows.distance[i]));
    }
    insert.flush();
  };
  write(users, "user_clusters", "user_clusters(user_id, cluster, distance)");
  write(movies, "movie_clusters", "movie_clusters(movie_id, cluster, distance)");
  db_.exec("DELETE FROM cluster_popular");
  BulkInserter<std::int64_t, std::int64_t, std::int64_t, std::int64_t, double> insert(
      db_, "cluster_popular(cluster, rank, movie_id, rating_count, mean_rating)");
  for (const auto& r : popular) {
    insert.row(r.cluster, r.rank, r.movie_id, r.rating_count, r.mean_rating);
  }
  insert.flush();
}

void SqlitePublisher::write_publication(std::int64_t run_id, std::optional<std::int64_t> model_id,
                                        int top_n, const PublicationExtras& extras) {
  insert_->flush();
  if (!similar_written_) db_.exec("DELETE FROM similar_movies");
  if (!clusters_written_) {
    db_.exec("DELETE FROM user_clusters");
    db_.exec("DELETE FROM movie_clusters");
    db_.exec("DELETE FROM cluster_popular");
  }
  db_.exec("DELETE FROM excluded_movies");
  if (!extras.excluded_movies.empty()) {
    BulkInserter<std::int64_t> excluded(db_, "excluded_movies(movie_id)");
    for (std::int64_t movie : extras.excluded_movies) excluded.row(movie);
    excluded.flush();
  }
  sets::mark_excluded(db_);
  SQLite::Statement pub(db_,
                        "INSERT OR REPLACE INTO publication (id, run_id, model_id, published_at, "
                        "user_count, row_count, top_n, similar_k, user_clusters, "
                        "movie_clusters) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  pub.bind(1, run_id);
  if (model_id) {
    pub.bind(2, *model_id);
  } else {
    pub.bind(2);
  }
  pub.bind(3, utc_now());
  pub.bind(4, users_);
  pub.bind(5, insert_->rows_written());
  pub.bind(6, top_n);
  auto bind_optional = [&](int slot, const std::optional<int>& v) {
    if (v) {
      pub.bind(slot, *v);
    } else {
      pub.bind(slot);
    }
  };
  bind_optional(7, extras.similar_k);
  bind_optional(8, extras.user_clusters);
  bind_optional(9, extras.movie_clusters);
  pub.exec();
  tx_->commit();
}

class SqlitePublished final : public PublishedSet {
 public:
  explicit SqlitePublished(SQLite::Database& db) : db_(db) {}

  std::optional<int> top_n() override {
    return translate_errors(db_, [&]() -> std::optional<int> {
      SQLite::Statement q(db_, "SELECT top_n FROM publication");
      if (!q.executeStep()) return std::nullopt;
      return q.getColumn(0).getInt();
    });
  }

  std::optional<double> run_metric(const std::string& key) override {
    return translate_errors(db_, [&]() -> std::optional<double> {
      SQLite::Statement q(db_,
                          "SELECT json_extract(r.metrics, ?) FROM publication p "
                          "JOIN runs r ON r.run_id = p.run_id");
      q.bind(1, "$.\"" + key + "\"");
      if (!q.executeStep() || q.getColumn(0).isNull()) return std::nullopt;
      return q.getColumn(0).getDouble();
    });
  }

  std::map<std::string, double> run_metrics() override {
    return translate_errors(db_, [&] {
      std::map<std::string, double> out;
      SQLite::Statement q(db_,
                          "SELECT j.key, j.value FROM publication p "
                          "JOIN runs r ON r.run_id = p.run_id, json_each(r.metrics) j "
                          "WHERE j.type IN ('integer', 'real')");
      while (q.executeStep()) out[q.getColumn(0).getString()] = q.getColumn(1).getDouble();
      return out;
    });
  }

  std::optional<std::int64_t> run_id() override { return id_column("run_id"); }
  std::optional<std::int64_t> model_id() override { return id_column("model_id"); }

 private:
  std::optional<std::int64_t> id_column(const std::string& column) {
    return translate_errors(db_, [&]() -> std::optional<std::int64_t> {
      SQLite::Statement q(db_, "SELECT " + column + " FROM publication");
      if (!q.executeStep() || q.getColumn(0).isNull()) return std::nullopt;
      return q.getColumn(0).getInt64();
    });
  }

  SQLite::Database& db_;
};

}  // namespace

std::unique_ptr<Publisher> sqlite_publisher(SQLite::Database& db, int keep_sets) {
  return std::make_unique<SqlitePublisher>(db, keep_sets);
}

std::unique_ptr<PublishedSet> sqlite_published(SQLite::Database& db) {
  return std::make_unique<SqlitePublished>(db);
}

}  // namespace recs::db
