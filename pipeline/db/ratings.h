// The ratings repository: one reader of the stored ratings that serves every
// caller (train, evaluate, score, the import's merge, the benchmarks), and
// the forms built on it. Backend-neutral: a backend implements
// RatingsRepository (db/sqlite.h makes the SQLite one).
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "data/ratings.h"

namespace recs::db {

// Maps a stored rating to the value trained on; `where` names the table for
// the message of an error it throws. Called once per distinct stored rating
// and reader thread, possibly from several threads at once.
using ValueMap = std::function<float(double stored, const std::string& where)>;

// A ValueMap called once per distinct stored rating (the maps are tiny, the
// rows tens of millions). One per thread.
class ValueCache {
 public:
  ValueCache(const ValueMap* map, std::string where) : map_(map), where_(std::move(where)) {}
  float operator()(double stored) {
    auto it = mapped_.find(stored);
    if (it == mapped_.end()) it = mapped_.emplace(stored, (*map_)(stored, where_)).first;
    return it->second;
  }

 private:
  const ValueMap* map_;
  std::string where_;
  std::map<double, float> mapped_;
};

// What a read fills besides the ids.
struct RatingsRequest {
  ValueMap value;         // fills StoredRatings::value when set
  bool rating = false;    // fills StoredRatings::rating
  bool rated_at = false;  // fills StoredRatings::rated_at
  // A hint: the backend may read in parallel (the SQLite one reads ranges of
  // user ids on parallel connections). Off, it reads in one scan; the
  // result is the same.
  bool parallel = true;
  // Only the ratings of users first_user..last_user (inclusive): one
  // shard's users (app/shard.h). The default is every user.
  std::int64_t first_user = std::numeric_limits<std::int64_t>::min();
  std::int64_t last_user = std::numeric_limits<std::int64_t>::max();
};

// The ratings table in key order (user id, movie id), as columns; the
// optional ones are empty unless requested.
struct StoredRatings {
  std::vector<std::int64_t> user_ids;  // distinct, ascending
  std::vector<std::int32_t> user;      // per row: index into user_ids
  std::vector<std::int64_t> movie;     // per row: external movie id
  std::vector<float> value;            // per row: after RatingsRequest::value
  std::vector<double> rating;          // per row: as stored
  std::vector<std::int64_t> rated_at;  // per row: as stored

  std::size_t size() const { return user.size(); }
  std::int64_t user_id(std::size_t i) const { return user_ids[static_cast<std::size_t>(user[i])]; }
};

class RatingsRepository {
 public:
  virtual ~RatingsRepository() = default;

  // Every stored rating, in key order, as one consistent snapshot. Inside
  // the connection's own write transaction the read sees its uncommitted
  // rows. An empty table gives no rows.
  virtual StoredRatings read(const RatingsRequest& request) = 0;

  // Changes whenever another connection commits to the database, so equal
  // values before and after mean the table is as it was read.
  virtual std::int64_t version() = 0;

  // Every stored rating value with its number of ratings (ascending by
  // value), and the number of distinct users: what a shard needs of the
  // ratings it does not hold.
  struct Census {
    std::int64_t users = 0;
    std::vector<std::pair<double, std::int64_t>> counts;
  };
  virtual Census census() = 0;

  // The database the ratings live in (its file name), for messages.
  virtual std::string source() const = 0;
};

// The stored ratings with dense indices, as every model trains on them
// (RatingMatrix's order and numbering), values through `value`. When given,
// `rating` and `rated_at` receive each entry's stored rating and timestamp.
// Throws DatabaseError when there are none.
RatingMatrix read_rating_matrix(RatingsRepository& ratings, const ValueMap& value,
                                std::vector<double>* rating = nullptr,
                                std::vector<std::int64_t>* rated_at = nullptr,
                                bool parallel = true);
// The same for the users `range` names (its first_user, last_user and
// parallel; its other fields are set here). Throws DatabaseError when the
// range holds no ratings only if `require` is set.
RatingMatrix read_rating_matrix(RatingsRepository& ratings, const ValueMap& value,
                                const RatingsRequest& range, std::vector<double>* rating,
                                bool require);

// Rows already in memory (as read, or as the import wrote them: `rows.rating`
// filled, `rows.value` not needed) in the form read_rating_matrix() gives:
// values through `value` (once per distinct stored rating; `where` names
// the table for its errors), dense movie indices. `rating` and `rated_at`,
// when given, receive the stored columns. Consumes `rows`.
RatingMatrix to_rating_matrix(StoredRatings&& rows, const ValueMap& value, const std::string& where,
                              std::vector<double>* rating = nullptr,
                              std::vector<std::int64_t>* rated_at = nullptr);

// The stored rows (ids, stored rating and timestamp), the import's merge
// input.
StoredRatings read_stored_ratings(RatingsRepository& ratings, bool parallel = true);

// The stored rows read ahead of a write transaction (in parallel, outside
// it), then confirmed inside it: if version() moved in between (another
// connection committed), current() reads them again, inside the
// transaction.
class StoredRatingsAhead {
 public:
  explicit StoredRatingsAhead(RatingsRepository& ratings);
  // Call inside the write transaction.
  const StoredRatings& current();
  bool read_again() const { return read_again_; }

 private:
  RatingsRepository& ratings_;
  std::int64_t version_;
  StoredRatings rows_;
  bool read_again_ = false;
};

}  // namespace recs::db
