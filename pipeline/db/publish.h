// Publishing a new set of recommendations under the readers' guarantee: the
// old set is deleted and the new one inserted inside one write transaction,
// committed at once. In WAL mode readers keep seeing the old complete set
// until the commit and the new complete set after it; a failure, or a kill
// at any moment, leaves the old set (the uncommitted WAL frames are ignored).
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "db/bulk.h"
#include "scoring/topn.h"

namespace recs::db {

class Publisher {
 public:
  // Begins the write transaction and clears the old set inside it.
  explicit Publisher(SQLite::Database& db);

  // Adds a scored block; user and movie indices are mapped to external ids.
  // Returns false when a score is not finite (the row is still written; the
  // caller refuses to commit).
  bool add(const TopNBlock& block, const std::vector<std::int64_t>& user_ids,
           const std::vector<std::int64_t>& movie_ids);

  // Records what is live and commits. Without commit() the destructor rolls
  // back and the old set stays.
  void commit(std::int64_t run_id, std::optional<std::int64_t> model_id, int top_n);

  std::int64_t rows() const { return insert_.rows_written(); }
  std::int64_t users() const { return users_; }

 private:
  SQLite::Database& db_;
  SQLite::Transaction tx_;
  BulkInserter<std::int64_t, std::int64_t, std::int64_t, double> insert_;
  std::int64_t users_ = 0;
};

}  // namespace recs::db
