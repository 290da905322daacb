// The score stage: every user against every movie with the stored model,
// top-N per user, published atomically into `recommendations`.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "data/ratings.h"
#include "db/runs.h"

namespace recs {

struct ScoreSummary {
  std::int64_t users = 0;            // scored
  std::int64_t users_published = 0;  // with at least one recommendation
  std::int64_t rows = 0;
  double seconds = 0;
  std::int64_t model_id = 0;
  std::string model_type;
  // Against the set this publication replaced (eval/churn.h); empty when
  // nothing was live or no user is in both sets.
  std::optional<double> churn;
  std::int64_t churn_users = 0;  // users with a list in both sets
  std::int64_t new_users = 0;    // users with a list now and none before
  double coverage = 0;           // movies_covered / candidate_movies
  std::int64_t movies_covered = 0;
  std::int64_t candidate_movies = 0;
};

// Scores with model `model_id` (empty: the newest) and publishes in one
// write transaction: the old set is kept for rollback (keep.sets >= 2) or
// deleted, the new one inserted, then committed at once. Readers (WAL) keep
// seeing the old complete set until the commit; a failure or a kill at any
// moment rolls back to it. Kept sets pushed out by keep.sets are logged.
// The stored ratings an earlier stage of the same run already read
// (load_ratings with its raw values), so the score stage need not read them
// again.
struct LoadedRatings {
  const RatingMatrix* ratings = nullptr;
  const std::vector<double>* raw = nullptr;
};

ScoreSummary run_score(SQLite::Database& db, const Config& config, db::RunRecord& run,
                       std::optional<std::int64_t> model_id = std::nullopt,
                       const LoadedRatings* loaded = nullptr);

}  // namespace recs
