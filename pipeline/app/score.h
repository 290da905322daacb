// The score stage: every user against every movie with the stored model,
// top-N per user, published atomically into `recommendations`.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>

#include "config/config.h"
#include "db/runs.h"

namespace recs {

struct ScoreSummary {
  std::int64_t users = 0;
  std::int64_t rows = 0;
  double seconds = 0;
};

// Scores and publishes in one write transaction: the old set is deleted and
// the new one inserted, then committed at once. Readers (WAL) keep seeing
// the old complete set until the commit; a failure or a kill at any moment
// rolls back to it.
ScoreSummary run_score(SQLite::Database& db, const Config& config, db::RunRecord& run);

}  // namespace recs
