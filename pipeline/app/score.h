// The score stage: every user against every movie with the stored model,
// top-N per user, published atomically into `recommendations`.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>
#include <optional>

#include "config/config.h"
#include "db/runs.h"

namespace recs {

struct ScoreSummary {
  std::int64_t users = 0;
  std::int64_t rows = 0;
  double seconds = 0;
};

// Scores with model `model_id` (empty: the newest) and publishes in one
// write transaction: the old set is kept for rollback (keep.sets >= 2) or
// deleted, the new one inserted, then committed at once. Readers (WAL) keep
// seeing the old complete set until the commit; a failure or a kill at any
// moment rolls back to it. Kept sets pushed out by keep.sets are logged.
ScoreSummary run_score(SQLite::Database& db, const Config& config, db::RunRecord& run,
                       std::optional<std::int64_t> model_id = std::nullopt);

}  // namespace recs
