#include "app/serving.h"

#include <limits>

#include "db/postgres.h"
#include "db/sqlite.h"
#include "util/error.h"
#include "util/log.h"

namespace recs {

std::unique_ptr<db::PublishedSet> live_publication(const Config& config, SQLite::Database& db) {
  if (config.serve.postgres.empty()) return db::sqlite_published(db);
  return db::postgres_published({config.serve.postgres, config.serve.reader_role}, db);
}

db::ScoreHistogram live_score_histogram(const Config& config, SQLite::Database& db, int bins) {
  if (config.serve.postgres.empty()) return db::sqlite_run_history(db)->score_histogram(bins);
  return db::postgres_score_histogram({config.serve.postgres, config.serve.reader_role}, bins);
}

std::vector<std::int64_t> served_models(const Config& config) {
  if (config.serve.postgres.empty()) return {};
  return db::postgres_served_models({config.serve.postgres, config.serve.reader_role});
}

ModelKeep model_keep(const Config& config) {
  ModelKeep k{config.keep.models, {}};
  try {
    k.served = served_models(config);
  } catch (const DatabaseError& e) {
    log::warn("{}; no model is removed this time", e.what());
    k.keep = std::numeric_limits<int>::max();
  }
  return k;
}

void log_removed_model(const db::ModelInfo& gone, const Config& config) {
  log::info("removed model {} ({}, trained {}): keep.models is {}", gone.model_id, gone.type,
            gone.created_at, config.keep.models);
}

void prune_models(SQLite::Database& db, const Config& config) {
  const ModelKeep k = model_keep(config);
  for (const db::ModelInfo& gone : db::sqlite_models(db)->prune(k.keep, k.served)) {
    log_removed_model(gone, config);
  }
}

}  // namespace recs
