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

void Publisher::commit(std::int64_t run_id, std::optional<std::int64_t> model_id, int top_n) {
  insert_.flush();
  SQLite::Statement pub(db_,
                        "INSERT OR REPLACE INTO publication (id, run_id, model_id, published_at, "
                        "user_count, row_count, top_n) VALUES (1, ?, ?, ?, ?, ?, ?)");
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
  pub.exec();
  tx_.commit();
}

}  // namespace recs::db
