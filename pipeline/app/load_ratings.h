// Reading the ratings table into memory.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>
#include <vector>

#include "config/config.h"
#include "data/ratings.h"

namespace recs {

// All stored ratings in (user, movie) order with dense indices, values after
// import.rating_map. When given, `raw` and `rated_at` receive each entry's
// stored rating and timestamp (the evaluator needs them). With `parallel`
// the table is read as ranges of user ids on parallel read-only connections
// (their small page caches, not this connection's, hold what is read),
// unless this connection is inside a transaction.
RatingMatrix load_ratings(SQLite::Database& db, const Config& config,
                          std::vector<double>* raw = nullptr,
                          std::vector<std::int64_t>* rated_at = nullptr, bool parallel = true);

// The ratings table as stored (external ids, raw ratings) in key order.
struct StoredRatings {
  std::vector<std::int64_t> user_ids;  // distinct, ascending
  std::vector<std::int32_t> user;      // per row: index into user_ids
  std::vector<std::int64_t> movie;     // per row: external id
  std::vector<double> rating;
  std::vector<std::int64_t> rated_at;

  std::size_t size() const { return user.size(); }
  std::int64_t user_id(std::size_t i) const { return user_ids[static_cast<std::size_t>(user[i])]; }
};

// Reads the ratings table as stored, read as load_ratings() reads (parallel
// under the same conditions). An empty table gives no rows.
StoredRatings read_stored_ratings(SQLite::Database& db, bool parallel = true);

// The stored ratings read ahead of a write transaction (in parallel, outside
// it), then confirmed inside it: PRAGMA data_version changes only when
// another connection commits, so if it moved in between, current() reads
// the table again on `db`, inside the transaction.
class StoredRatingsAhead {
 public:
  explicit StoredRatingsAhead(SQLite::Database& db);
  // Call inside the write transaction.
  const StoredRatings& current();
  bool read_again() const { return read_again_; }

 private:
  SQLite::Database& db_;
  std::int64_t version_;
  StoredRatings rows_;
  bool read_again_ = false;
};

}  // namespace recs
