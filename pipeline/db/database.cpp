#include "db/database.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

#include "db/bulk.h"
#include "db/first_attach.h"
#include "db/schema.h"
#include "db/sqlite_publish_sets.h"
#include "util/error.h"
#include "util/log.h"

namespace recs::db {

namespace {

// The schema version (006_excluded_movies) from which imports prune the
// published sets of what they remove.
constexpr int kPrunedSetsVersion = 6;

// A read-only reader (SQLITE_OPEN_READONLY, "?mode=ro") of a WAL database
// cannot create the -wal and -shm files itself, and without write access to
// the folder it fails with "attempt to write a readonly database" when they
// are missing. SQLite removes them when the last read-write connection
// closes unless that connection persists the WAL, so every read-write
// connection of the pipeline does; -wal is then truncated to zero bytes on
// close instead (journal_size_limit), and both stay for readers.
void persist_wal(SQLite::Database& db) {
  int on = 1;
  const int rc = sqlite3_file_control(db.getHandle(), "main", SQLITE_FCNTL_PERSIST_WAL, &on);
  if (rc != SQLITE_OK) {
    throw DatabaseError(db.getFilename() +
                        ": cannot keep the WAL files for readers: " + sqlite3_errstr(rc));
  }
}

// SQLite creates a new database with mode 0644 less the umask, and -wal and
// -shm with the database's mode. Under a strict umask (077) a reader in the
// file's group could read none of them, so a database this pipeline creates
// is readable by its group whatever the umask; nothing gains write access.
void make_group_readable(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read,
                  fs::perm_options::add, ec);
  if (ec) throw DatabaseError(path.string() + ": cannot make it group-readable: " + ec.message());
}

std::unique_ptr<SQLite::Database> open_unguarded(const std::filesystem::path& path) {
  std::unique_ptr<SQLite::Database> db;
  try {
    std::error_code ec;
    const bool created = !std::filesystem::exists(path, ec);
    // A database this user cannot write is refused before SQLite opens it:
    // SQLite would open it read-only and, on the way, give the empty -wal
    // the database's read-only mode, so the first run after the mode is
    // fixed would fail too.
    if (!created && ::access(path.c_str(), R_OK | W_OK) != 0) {
      throw DatabaseError(path.string() + ": not readable and writable by this user (" +
                          std::strerror(errno) + ")");
    }
    db = std::make_unique<SQLite::Database>(
        path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOMUTEX);
    // Before the first write creates -wal and -shm, which take this mode.
    if (created && std::filesystem::exists(path, ec)) make_group_readable(path);
    persist_wal(*db);
    db->setBusyTimeout(kBusyTimeoutMs);
    std::string mode = db->execAndGet("PRAGMA journal_mode = WAL").getString();
    if (mode != "wal")
      throw DatabaseError(path.string() + ": cannot switch to WAL mode (got " + mode + ")");
    // In WAL mode NORMAL keeps every commit atomic and the database intact
    // after a crash; only the last commits may roll back on power loss.
    db->exec("PRAGMA synchronous = NORMAL");
    db->exec("PRAGMA foreign_keys = ON");
    // Big publishes leave a big WAL; trim it after checkpoints.
    db->exec("PRAGMA journal_size_limit = 67108864");
    // Bulk writes (a full import, a publish) must not spill dirty pages
    // mid-transaction, and the new table reuses the pages the old set freed,
    // which is only fast while they stay cached: up to 1 GiB of page cache.
    db->exec("PRAGMA cache_size = -1048576");
    // Checkpoints run once at the end of a run (checkpoint()), not inside the
    // commit of a publish, so publishing is done when its commit is.
    db->exec("PRAGMA wal_autocheckpoint = 0");
    migrate(*db);
  } catch (const SQLite::Exception& e) {
    throw DatabaseError(path.string() + ": " + e.what());
  }
  return db;
}

}  // namespace

std::unique_ptr<SQLite::Database> open(const std::filesystem::path& path) {
  return open_first_attach_safe(path, [&] { return open_unguarded(path); });
}

namespace {

// RFC 3986 percent-encoding of a path for a file: URI (SQLite decodes it).
std::string file_uri(const std::filesystem::path& path) {
  std::string uri = "file:";
  for (unsigned char c : std::filesystem::absolute(path).string()) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
      uri += static_cast<char>(c);
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      uri += '%';
      uri += kHex[c >> 4];
      uri += kHex[c & 15];
    }
  }
  return uri;
}

}  // namespace

std::string immutable_uri(const std::filesystem::path& path) {
  return file_uri(path) + "?immutable=1";
}

namespace {

// No -wal beside the database: everything is in the main file and no
// connection has it open (every read-write connection keeps -wal).
bool without_wal(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::path wal = path;
  wal += "-wal";
  return !std::filesystem::exists(wal, ec) && !ec;
}

bool folder_writable(const std::filesystem::path& path) {
  const std::filesystem::path folder = path.parent_path().empty() ? "." : path.parent_path();
  return ::access(folder.c_str(), W_OK) == 0;
}

// Read as immutable: SQLite takes no lock and creates no -wal or -shm.
std::unique_ptr<SQLite::Database> open_immutable(const std::filesystem::path& path) {
  auto db = std::make_unique<SQLite::Database>(immutable_uri(path),
                                               SQLite::OPEN_READONLY | SQLite::OPEN_URI);
  schema_version(*db);  // the first read: a file that is no database fails here
  return db;
}

}  // namespace

std::unique_ptr<SQLite::Database> open_read_only(const std::filesystem::path& path,
                                                 SchemaCheck check) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw DatabaseError(path.string() + ": database not found (run 'pipeline import' first)");
  }
  try {
    std::unique_ptr<SQLite::Database> db;
    if (without_wal(path) && !folder_writable(path)) {
      // A read-only copy (a snapshot, a read-only mount) without -wal/-shm:
      // SQLite cannot create them there, and a read-only WAL connection
      // needs them; nothing can be writing it either.
      db = open_immutable(path);
    } else {
      db = open_first_attach_safe(path, [&] {
        auto db = std::make_unique<SQLite::Database>(path.string(), SQLite::OPEN_READONLY);
        db->setBusyTimeout(kBusyTimeoutMs);
        schema_version(*db);  // the first read, which attaches to -shm
        return db;
      });
    }
    if (check == SchemaCheck::kAnyVersion) return db;
    int version = schema_version(*db);
    int latest = migrations().empty() ? 0 : migrations().back().version;
    if (version != latest) {
      throw DatabaseError(path.string() + ": schema version " + std::to_string(version) +
                          ", this pipeline expects " + std::to_string(latest) +
                          " (run 'pipeline import' to migrate)");
    }
    return db;
  } catch (const SQLite::Exception& e) {
    throw DatabaseError(path.string() + ": " + e.what());
  }
}

std::unique_ptr<SQLite::Database> open_for_inspection(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec) || !without_wal(path)) {
    return open_read_only(path, SchemaCheck::kAnyVersion);
  }
  try {
    return open_immutable(path);
  } catch (const SQLite::Exception& e) {
    throw DatabaseError(path.string() + ": " + e.what());
  }
}

int schema_version(SQLite::Database& db) { return db.execAndGet("PRAGMA user_version").getInt(); }

void migrate(SQLite::Database& db) {
  const auto& all = migrations();
  int latest = all.empty() ? 0 : all.back().version;
  if (schema_version(db) == latest) return;
  // IMMEDIATE takes the write lock first, so two processes cannot both migrate.
  SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
  int current = schema_version(db);
  if (current > latest) {
    throw DatabaseError(db.getFilename() + ": database schema version " + std::to_string(current) +
                        " is newer than this pipeline's " + std::to_string(latest));
  }
  for (const auto& m : all) {
    if (m.version <= current) continue;
    try {
      db.exec(m.sql);
    } catch (const SQLite::Exception& e) {
      throw DatabaseError(db.getFilename() + ": migration " + m.name + " failed: " + e.what());
    }
    db.exec("PRAGMA user_version = " + std::to_string(m.version));
  }
  // From version 6 on, an import takes the users and movies it removes out
  // of every published set and clears the "because" of ratings it deletes;
  // what earlier imports left there goes now.
  if (current < kPrunedSetsVersion && latest >= kPrunedSetsVersion) {
    std::int64_t users = 0, movies = 0;
    const sets::Removed r = sets::remove_stale(db, &users, &movies);
    if (r.sets > 0 || users > 0 || movies > 0 || r.because_cleared > 0) {
      log::info(
          "{}: migration to version {} took {} user(s) and {} movie(s) that earlier imports "
          "removed out of {} published set(s), {} recommendation rows, and cleared {} "
          "\"because\" naming a movie its user no longer rates",
          db.getFilename(), kPrunedSetsVersion, users, movies, r.sets, r.rows, r.because_cleared);
    }
  }
  tx.commit();
}

namespace {
LockedError locked_error(const std::filesystem::path& database) {
  return LockedError(database.string() +
                     ": another pipeline run is using this database; refusing to start");
}
}  // namespace

RunLock::RunLock(const std::filesystem::path& database) {
  std::string lock_path = database.string() + ".lock";
  fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw DatabaseError(lock_path + ": cannot open lock file: " + std::strerror(errno));
  }
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK) {
      throw locked_error(database);
    }
    throw DatabaseError(lock_path + ": cannot lock: " + std::strerror(err));
  }
}

void check_run_lock(const std::filesystem::path& database) {
  const std::string lock_path = database.string() + ".lock";
  const int fd = ::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  const bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);  // drops the shared lock
  if (held) throw locked_error(database);
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // closing drops the flock
}

void checkpoint(SQLite::Database& db) {
  // PASSIVE never waits for readers; what it cannot copy now the next run's
  // checkpoint will.
  db.exec("PRAGMA wal_checkpoint(PASSIVE)");
}

BackgroundCheckpoint::BackgroundCheckpoint(std::filesystem::path path) {
  thread_ = std::thread([this, path = std::move(path)] {
    const auto start = std::chrono::steady_clock::now();
    try {
      SQLite::Database db(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_NOMUTEX);
      db.setBusyTimeout(kBusyTimeoutMs);
      checkpoint(db);
    } catch (const std::exception& e) {
      error_ = path.string() + ": background checkpoint: " + e.what();
    }
    seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  });
}

double BackgroundCheckpoint::wait() {
  if (thread_.joinable()) {
    thread_.join();
    if (!error_.empty()) log::warn("{}; the run's closing checkpoint copies the rest", error_);
  }
  return seconds_;
}

BackgroundCheckpoint::~BackgroundCheckpoint() {
  try {
    wait();
  } catch (...) {  // the log cannot write: nothing more to do
  }
}

void release_cache(SQLite::Database& db) {
  db.exec("PRAGMA shrink_memory");
#ifdef __GLIBC__
  // The pages were small allocations: without a trim the heap keeps them.
  malloc_trim(0);
#endif
}

std::string multi_row_insert(std::string_view verb, std::string_view target, int columns,
                             int rows) {
  std::string row = "(";
  for (int c = 0; c < columns; ++c) row += c ? ",?" : "?";
  row += ")";
  std::string sql = std::string(verb) + " INTO " + std::string(target) + " VALUES ";
  for (int r = 0; r < rows; ++r) {
    if (r) sql += ",";
    sql += row;
  }
  return sql;
}

std::string utc_now() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace recs::db
