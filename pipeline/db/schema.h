// The schema's migrations, compiled in from schema/NNN_name.sql.
#pragma once

#include <vector>

namespace recs::db {

struct Migration {
  int version;
  const char* name;
  const char* sql;
};

// All migrations in ascending version order (generated at build time).
const std::vector<Migration>& migrations();

}  // namespace recs::db
