#include "db/publish.h"

#include <cmath>

#include "db/database.h"

namespace recs::db {

Publisher::Publisher(SQLite::Database& db)
    : db_(db),
      tx_(db, SQLite::TransactionBehavior::IMMEDIATE),
      insert_(db, "recommendations(user_id, rank, movie_id, score)") {
  db_.exec("DELETE FROM recommendations");
}

bool Publisher::add(const TopNBlock& b, const std::vector<std::int64_t>& user_ids,
                    const std::vector<std::int64_t>& movie_ids) {
  bool finite = true;
  for (int i = 0; i < b.user_end - b.user_begin; ++i) {
    std::int64_t user = user_ids[static_cast<std::size_t>(b.user_begin + i)];
    std::size_t base = static_cast<std::size_t>(i) * static_cast<std::size_t>(b.top_n);
    users_ += b.counts[static_cast<std::size_t>(i)] > 0;
    for (int k = 0; k < b.counts[static_cast<std::size_t>(i)]; ++k) {
      float score = b.scores[base + static_cast<std::size_t>(k)];
      finite &= std::isfinite(score);
      insert_.row(user, std::int64_t{k + 1},
                  movie_ids[static_cast<std::size_t>(b.items[base + static_cast<std::size_t>(k)])],
                  static_cast<double>(score));
    }
  }
  return finite;
}

bool Publisher::replace_similar(const TopNBlock& b, const std::vector<std::int64_t>& row_ids,
                                const std::vector<std::int64_t>& candidate_ids) {
  db_.exec("DELETE FROM similar_movies");
  similar_written_ = true;
  BulkInserter<std::int64_t, std::int64_t, std::int64_t, double> insert(
      db_, "similar_movies(movie_id, rank, similar_movie_id, score)");
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

void Publisher::replace_clusters(const ClusterRows& users, const ClusterRows& movies,
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

void Publisher::commit(std::int64_t run_id, std::optional<std::int64_t> model_id, int top_n,
                       const PublicationExtras& extras) {
  insert_.flush();
  if (!similar_written_) db_.exec("DELETE FROM similar_movies");
  if (!clusters_written_) {
    db_.exec("DELETE FROM user_clusters");
    db_.exec("DELETE FROM movie_clusters");
    db_.exec("DELETE FROM cluster_popular");
  }
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
  pub.bind(5, insert_.rows_written());
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
  tx_.commit();
}

}  // namespace recs::db
