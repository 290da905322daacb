#include "app/serving.h"

#include "db/postgres.h"
#include "db/sqlite.h"

namespace recs {

std::unique_ptr<db::PublishedSet> live_publication(const Config& config, SQLite::Database& db) {
  if (config.serve.postgres.empty()) return db::sqlite_published(db);
  return db::postgres_published({config.serve.postgres, config.serve.reader_role}, db);
}

std::vector<std::int64_t> served_models(const Config& config) {
  if (config.serve.postgres.empty()) return {};
  return db::postgres_served_models({config.serve.postgres, config.serve.reader_role});
}

}  // namespace recs
