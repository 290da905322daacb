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

#include "data/clusters.h"
#include "data/top_n.h"
#include "db/bulk.h"

namespace recs::db {

// What else a publication holds; unset = not computed by this run, and the
// table is left empty so nothing from an older model outlives it.
struct PublicationExtras {
  std::optional<int> similar_k;
  std::optional<int> user_clusters;
  std::optional<int> movie_clusters;
};

class Publisher {
 public:
  // Begins the write transaction and clears the old set inside it.
  explicit Publisher(SQLite::Database& db);

  // Adds a scored block; user and movie indices are mapped to external ids.
  // Returns false when a score is not finite (the row is still written; the
  // caller refuses to commit).
  bool add(const TopNBlock& block, const std::vector<std::int64_t>& user_ids,
           const std::vector<std::int64_t>& movie_ids);

  // Replaces similar_movies: row i of `similar` is movie row_ids[i], its
  // items index candidate_ids. Returns false on a non-finite score.
  bool replace_similar(const TopNBlock& similar, const std::vector<std::int64_t>& row_ids,
                       const std::vector<std::int64_t>& candidate_ids);
  void replace_clusters(const ClusterRows& users, const ClusterRows& movies,
                        const std::vector<ClusterPopularRow>& popular);

  // Records what is live and commits. Without commit() the destructor rolls
  // back and the old set stays. Tables the extras leave unset are emptied.
  void commit(std::int64_t run_id, std::optional<std::int64_t> model_id, int top_n,
              const PublicationExtras& extras = {});

  std::int64_t rows() const { return insert_.rows_written(); }
  std::int64_t users() const { return users_; }

 private:
  SQLite::Database& db_;
  SQLite::Transaction tx_;
  BulkInserter<std::int64_t, std::int64_t, std::int64_t, double> insert_;
  std::int64_t users_ = 0;
  bool similar_written_ = false;
  bool clusters_written_ = false;
};

}  // namespace recs::db
