// The import stage: reads the configured MovieLens files and makes the
// database's movies and ratings match them, in one transaction.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>

#include "config/config.h"
#include "db/runs.h"

namespace recs {

struct ImportSummary {
  std::int64_t ratings = 0;  // rows in the ratings table afterwards
  std::int64_t users = 0;
  std::int64_t rated_movies = 0;
  std::int64_t movies = 0;  // rows in the movies table afterwards
  std::int64_t inserted = 0, updated = 0, deleted = 0;
  std::int64_t bad_rows = 0;
};

// Validates everything before writing; on any error the database is exactly
// as before. Adds counts and timings to `run`.
ImportSummary run_import(SQLite::Database& db, const Config& config, db::RunRecord& run);

}  // namespace recs
