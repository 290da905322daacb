// Which database serves the web app: SQLite (the default) or the
// PostgreSQL server of serve.postgres. One home for that choice where a
// command asks about the live set.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "config/config.h"
#include "db/model_store.h"
#include "db/publish.h"
#include "db/run_history.h"

namespace recs {

// The live set's publication on the serving side; `db` holds the run
// history either way.
std::unique_ptr<db::PublishedSet> live_publication(const Config& config, SQLite::Database& db);

// The live recommendations' scores in `bins` bins, read where they are
// served (the report's chart). Throws DatabaseError when the server cannot
// be read.
db::ScoreHistogram live_score_histogram(const Config& config, SQLite::Database& db, int bins);

// The models the serving side names beyond SQLite's own sets, which
// keep.models must not prune: with serve.postgres, those of the server's
// live, previous and staging generations; empty otherwise. Throws
// DatabaseError when the server cannot be read.
std::vector<std::int64_t> served_models(const Config& config);

// What keep.models keeps: the newest `keep` and every model a set or the
// serving side names. When the server cannot be read, nothing is pruned
// (keep is unbounded) and a warning says so.
struct ModelKeep {
  int keep = 0;
  std::vector<std::int64_t> served;
};
ModelKeep model_keep(const Config& config);

// Prunes the models no set names any more (a publish retired the last set
// of one), logging each removed one.
void prune_models(SQLite::Database& db, const Config& config);

// The log line of a model keep.models removed.
void log_removed_model(const db::ModelInfo& gone, const Config& config);

}  // namespace recs
