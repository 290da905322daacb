// The published lists of a sharded run and of the one-process SQLite run,
// read as the web app reads them (psql, the sqlite3 client), compared.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace recs::test {

struct ListRow {
  std::int64_t movie = 0;
  double score = 0;
  std::int64_t because = 0;  // 0: NULL
};
using Lists = std::map<std::int64_t, std::vector<ListRow>>;  // by user, rank order

// recommendations of a SQLite database (sqlite3 -readonly).
Lists sqlite_lists(const std::filesystem::path& db);
// recs.recommendations on a PostgreSQL server (psql).
Lists postgres_lists(const std::string& conninfo);
// The same users, the same movie at every rank, the same explanation,
// scores within 1e-5.
void expect_same_lists(const Lists& want, const Lists& got, const std::string& what);

}  // namespace recs::test
