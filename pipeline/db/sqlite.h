// The SQLite backend of the repositories: each works on a connection the
// caller opened (db::open, db::open_read_only) and keeps owning, and turns
// SQLite's failures into DatabaseError.
#pragma once

#include <memory>

#include "db/catalog.h"
#include "db/import.h"
#include "db/live_lists.h"
#include "db/model_store.h"
#include "db/publish.h"
#include "db/ratings.h"
#include "db/run_history.h"

namespace SQLite {
class Database;
}

namespace recs::db {

// The ratings table. A read outside a transaction is split into ranges of
// user ids read on parallel read-only connections (their small page caches,
// not this connection's, hold what is read); inside this connection's
// transaction, or on a database without a file, it is one scan on `db`.
std::unique_ptr<RatingsRepository> sqlite_ratings(SQLite::Database& db);

// The movies table.
std::unique_ptr<CatalogRepository> sqlite_catalog(SQLite::Database& db);

// Begins the import's write transaction (IMMEDIATE: the write lock is taken
// at once). Its failures read "<database>: import failed, the database is
// unchanged: ...".
std::unique_ptr<ImportWriter> sqlite_import(SQLite::Database& db);

// The models table.
std::unique_ptr<ModelRepository> sqlite_models(SQLite::Database& db);

// Begins a publication: takes the write lock (IMMEDIATE) and, inside the
// transaction, keeps the old set (keep_sets >= 2: its tables are renamed to
// <table>_kept<set_id>, see schema/004_kept_sets.sql, and fresh ones made
// from the live tables' DDL) or deletes it (keep_sets 1). Its failures read
// "<database>: publishing failed, the previous recommendations stay in
// place: ...".
std::unique_ptr<Publisher> sqlite_publisher(SQLite::Database& db, int keep_sets);

// The live recommendations as of now, for comparison with a publication
// about to replace them: make it before the publisher. Reads on a
// read-only connection of its own. Null when nothing is live or the
// database has no file.
std::unique_ptr<LiveLists> sqlite_live_lists(SQLite::Database& db);

// The publication row and its run.
std::unique_ptr<PublishedSet> sqlite_published(SQLite::Database& db);

// The kept_sets table and the <table>_kept<set_id> tables. A rollback is a
// handful of table renames in one IMMEDIATE transaction; its failures read
// "<database>: rollback failed, the live set stays in place: ...".
std::unique_ptr<KeptSets> sqlite_kept_sets(SQLite::Database& db);

// The runs table and the live set's scores, for the report. Only reads.
std::unique_ptr<RunHistory> sqlite_run_history(SQLite::Database& db);

}  // namespace recs::db
