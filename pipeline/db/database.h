// Opening the database: WAL mode, a busy timeout, and schema migration.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <filesystem>
#include <memory>
#include <string>
#include <thread>

namespace recs::db {

constexpr int kBusyTimeoutMs = 10000;

// Opens (creating when missing) the database at `path`, switches it to WAL
// and applies pending migrations in one transaction. Throws DatabaseError.
// The connection keeps -wal and -shm when it closes (SQLITE_FCNTL_PERSIST_WAL),
// so read-only readers without write access to the folder can open the
// database between runs; a database it creates is readable by its group
// whatever the umask (-wal and -shm take the database file's mode).
std::unique_ptr<SQLite::Database> open(const std::filesystem::path& path);

enum class SchemaCheck {
  kCurrent,     // refuse a database of another schema version than this pipeline's
  kAnyVersion,  // for tools that read only tables every version has
};

// Opens an existing database read-only (no migration). Throws DatabaseError.
std::unique_ptr<SQLite::Database> open_read_only(const std::filesystem::path& path,
                                                 SchemaCheck check = SchemaCheck::kCurrent);

// Opens an existing database to look at it and leave no trace (the dry run).
// A WAL database with no -wal file has everything in the main file and no
// connection open on it: it is read as immutable, so SQLite creates no
// -wal/-shm beside it (a read-only WAL connection otherwise would, and
// cannot remove them on close). Otherwise as open_read_only. Throws
// DatabaseError.
std::unique_ptr<SQLite::Database> open_for_inspection(const std::filesystem::path& path);

// The file: URI that opens `path` as immutable (SQLite takes no lock and
// creates no -wal/-shm; open with SQLITE_OPEN_URI).
std::string immutable_uri(const std::filesystem::path& path);

// The schema version recorded in the database (PRAGMA user_version).
int schema_version(SQLite::Database& db);

// Applies migrations newer than the recorded version. Refuses a database
// written by a newer pipeline.
void migrate(SQLite::Database& db);

// Copies committed WAL pages into the database file without waiting for
// readers. Called at the end of every run.
void checkpoint(SQLite::Database& db);

// A PASSIVE checkpoint on its own connection and thread, started at once:
// after a full import it copies the import's pages into the database file
// while the run's CPU-bound stages go on, instead of leaving them all to the
// run's closing checkpoint. Best effort: an error is logged as a warning and
// what it did not copy is left to the closing checkpoint. wait() (or the
// destructor) joins it; the run's own writes may go on meanwhile (WAL).
class BackgroundCheckpoint {
 public:
  explicit BackgroundCheckpoint(std::filesystem::path path);
  ~BackgroundCheckpoint();
  BackgroundCheckpoint(const BackgroundCheckpoint&) = delete;
  BackgroundCheckpoint& operator=(const BackgroundCheckpoint&) = delete;

  // Waits for it; the seconds it took (a repeated call returns the same).
  double wait();

 private:
  std::thread thread_;
  double seconds_ = 0;
  std::string error_;
};

// Returns the connection's page cache to the system (PRAGMA shrink_memory):
// after a full import it holds up to cache_size (1 GiB) of ratings pages that
// the rest of a run never reads through it.
void release_cache(SQLite::Database& db);

// An exclusive lock on "<database>.lock" held for the life of a run, so two
// runs never write the same database at once. The kernel drops it when the
// process dies, so a killed run leaves no stale lock. Throws LockedError.
class RunLock {
 public:
  explicit RunLock(const std::filesystem::path& database);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

// Throws the LockedError RunLock would when another process holds the run
// lock of `database`; creates nothing (a missing lock file means no run
// holds it). For checks that must not write, e.g. `run --dry-run`. It takes
// the lock for an instant, so a run starting in that instant exits 7.
void check_run_lock(const std::filesystem::path& database);

// UTC now as ISO 8601 ("2026-11-27T21:02:42Z").
std::string utc_now();

}  // namespace recs::db
