// Which database serves the web app: SQLite (the default) or the
// PostgreSQL server of serve.postgres. One home for that choice where a
// command asks about the live set.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <memory>

#include "config/config.h"
#include "db/publish.h"

namespace recs {

// The live set's publication on the serving side; `db` holds the run
// history either way.
std::unique_ptr<db::PublishedSet> live_publication(const Config& config, SQLite::Database& db);

}  // namespace recs
