// The PostgreSQL serving schema's migrations, compiled in from
// schema/postgres/NNN_name.sql (the same Migration as db/schema.h).
#pragma once

#include <vector>

#include "db/schema.h"

namespace recs::db {

const std::vector<Migration>& postgres_migrations();

}  // namespace recs::db
