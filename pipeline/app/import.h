// The import stage: reads the configured MovieLens files and makes the
// database's movies and ratings match them, in one transaction.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>
#include <filesystem>

#include "config/config.h"
#include "db/import.h"
#include "db/ratings.h"
#include "db/runs.h"

namespace recs {

struct ImportSummary {
  std::int64_t ratings = 0;  // rows in the ratings table afterwards
  std::int64_t users = 0;
  std::int64_t rated_movies = 0;
  std::int64_t movies = 0;  // rows in the movies table afterwards
  std::int64_t inserted = 0, updated = 0, deleted = 0;
  std::int64_t bad_rows = 0;
  db::ServedRemoval removed;   // what the import took out of the published sets
  db::CatalogChanges catalog;  // with import.movies: how the catalog changed
  // Movies new in this import that the business filters keep out of the
  // live set's fallback until the next publish.
  std::int64_t fallback_excluded = 0;
};

// The rows an import leaves in the ratings table, kept in memory for the
// later stages of the same run so that they need not read 25 M rows back.
struct ImportedRows {
  bool rated_at = false;  // in: keep the timestamps too
  // out: `rows` holds the whole table. Only when the file streamed in key
  // order: an unsorted file is first held as sorted chunks, and a third
  // copy beside them would cost more memory than the read back saves time.
  bool kept = false;
  db::StoredRatings rows;  // user_ids, user, movie, rating (and rated_at); no value
};

// A full export that would delete more than import.max_removed_share of the
// `stored` ratings is far more often cut short, or the wrong file, than the
// truth: its removals would reach every published set, the kept ones a
// rollback restores included. Throws InputError with the figures (the
// import refuses it before anything is committed; the dry run reports it).
void refuse_mass_removal(const Config& config, std::int64_t stored, std::int64_t deleted);

// Warns when an import file does not end with a line break: its last row
// may have been cut short mid-field (a timestamp or a genre list shortened
// still parses), which no later check can tell.
void warn_unterminated(const std::filesystem::path& file);

// " (3 added, 1 with a new title or genres, 2 removed)" when an import
// changed a catalog the database had; empty otherwise (a first import, or
// no change).
std::string catalog_changes(const db::CatalogChanges& changes);

// Validates everything before writing; on any error the database is exactly
// as before. Adds counts and timings to `run`. With `keep`, fills it (see
// ImportedRows) once the import has committed.
ImportSummary run_import(SQLite::Database& db, const Config& config, db::RunRecord& run,
                         ImportedRows* keep = nullptr);

}  // namespace recs
