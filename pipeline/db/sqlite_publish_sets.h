// Inside the SQLite publication backend: the kept sets. A published set is
// six tables; keeping one renames them to <table>_kept<set_id> and copies
// its publication row into kept_sets (schema/004_kept_sets.sql), so neither
// keeping nor restoring a set copies a row. Every function here runs inside
// the caller's write transaction and throws SQLite::Exception.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "db/publish.h"

namespace recs::db::sets {

// The live tables' DDL as sqlite_schema holds it, read before they are
// renamed, so fresh or restored live tables get exactly the schema's
// columns, keys and indexes (schema/ stays the one home of the DDL).
struct LiveDdl {
  std::vector<std::string> tables;       // CREATE TABLE, one per set table
  std::vector<std::string> index_names;  // their secondary indexes
  std::vector<std::string> indexes;      // CREATE INDEX
};
LiveDdl live_ddl(SQLite::Database& db);

// Kept sets, most recently retired first.
std::vector<KeptSet> list(SQLite::Database& db);

// Makes movie_stats.excluded say what the live excluded_movies lists
// (schema/007_movie_stats_excluded.sql): after every change to either.
void mark_excluded(SQLite::Database& db);

// Drops the kept sets retired longest ago until at most `keep` remain;
// returns the ones dropped.
std::vector<KeptSet> trim(SQLite::Database& db, int keep);

// Keeps the live set: copies the publication row into kept_sets and renames
// the live tables to that set's names (their secondary indexes dropped
// first: index names are unique per database and kept tables are never
// queried). The live names are then free. Empty, changing nothing, when
// nothing is published.
std::optional<KeptSet> retire_live(SQLite::Database& db, const LiveDdl& ddl);

// Creates empty live tables and their indexes from `ddl`.
void create_live(SQLite::Database& db, const LiveDdl& ddl);

// Renames kept set `set_id`'s tables back to the live names (a table the set
// lacks is created empty), creates the indexes, makes its publication row
// the live one and removes it from kept_sets. The live names must be free.
KeptSet restore(SQLite::Database& db, const LiveDdl& ddl, std::int64_t set_id);

// Takes `users` and `movies` out of the live set and every kept set: their
// lists, cluster rows and similar-movie rows, and every row recommending or
// listing a removed movie (a "because" naming one becomes NULL). The lists
// that lost a row are renumbered from 1; each set's user and row counts
// follow. Returns the recommendation rows dropped and the sets touched.
struct Removed {
  std::int64_t rows = 0;
  std::int64_t sets = 0;
  std::int64_t because_cleared = 0;  // remove_stale() only
};
Removed remove_gone(SQLite::Database& db, const std::vector<std::int64_t>& users,
                    const std::vector<std::int64_t>& movies);

// Clears (NULL) the "because" of every row, in the live set and every kept
// set, whose user and because_movie_id are one of `pairs` (ratings an import
// deleted). Returns the rows changed.
std::int64_t clear_because(SQLite::Database& db,
                           const std::vector<std::pair<std::int64_t, std::int64_t>>& pairs);

// remove_gone() for every user and movie the sets still hold that the
// database no longer knows (a user without a rating; a movie neither in
// `movies` nor in `movie_stats`): what imports before they pruned the sets
// (schema version 6) left in them, and clears (NULL) every "because" naming
// a movie its user no longer rates. Run once, by that migration.
Removed remove_stale(SQLite::Database& db, std::int64_t* users, std::int64_t* movies);

// Drops the live tables (used when nothing is published, so nothing is kept).
void drop_live(SQLite::Database& db);

// While alive, ALTER TABLE ... RENAME leaves views and triggers that name a
// live table naming the live table (SQLite >= 3.26 would otherwise rewrite a
// web app's view on `recommendations` to follow the table into the kept set).
class PlainRenames {
 public:
  explicit PlainRenames(SQLite::Database& db);
  ~PlainRenames();
  PlainRenames(const PlainRenames&) = delete;
  PlainRenames& operator=(const PlainRenames&) = delete;

 private:
  SQLite::Database& db_;
};

}  // namespace recs::db::sets
