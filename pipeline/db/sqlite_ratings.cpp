// The SQLite ratings repository: the one reader of the ratings table.
//
// Tens of millions of rows are read through raw statements (SQLiteCpp's
// per-column wrapper objects cost more than the step itself). A large table
// is read as ranges of user ids, each on its own read-only connection, in
// parallel: the table is clustered by (user_id, movie_id), so every range is
// one sequential scan, and each range first counts its rows so that it
// writes straight into its slice of the result, in key order.
#include <sqlite3.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "db/database.h"
#include "db/sqlite.h"
#include "db/sqlite_error.h"
#include "util/error.h"
#include "util/memory.h"

namespace recs::db {
namespace {

// Ranges per read; more than the cores, so uneven ranges still balance.
constexpr int kRanges = 16;

using Statement = std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)>;
using Connection = std::unique_ptr<sqlite3, int (*)(sqlite3*)>;

Statement prepare(sqlite3* handle, const std::string& where, const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(handle, sql, -1, &stmt, nullptr) != SQLITE_OK) {
    sqlite3_finalize(stmt);
    throw DatabaseError(where + ": " + sqlite3_errmsg(handle));
  }
  return Statement(stmt, sqlite3_finalize);
}

struct Range {
  std::int64_t lo = 0;
  std::int64_t hi = 0;      // inclusive
  std::int64_t rows = 0;    // counted before the read
  std::int64_t offset = 0;  // first row in the result
  std::int32_t users = 0;   // distinct users read
  bool complete = false;    // read exactly `rows` rows
};

struct Want {
  const ValueMap* map = nullptr;  // fill `value` through this map
  bool raw = false;
  bool rated_at = false;
  std::int64_t first_user = 0;  // the users read, inclusive
  std::int64_t last_user = 0;
};

using Columns = StoredRatings;

void size_columns(Columns& c, const Want& want, std::size_t n) {
  resize_huge(c.user, n);
  resize_huge(c.movie, n);
  if (want.map) resize_huge(c.value, n);
  if (want.raw) resize_huge(c.rating, n);
  if (want.rated_at) resize_huge(c.rated_at, n);
}

// Where read_rows() writes, row i at index i of each array (null: not
// wanted).
struct Out {
  std::int32_t* user;  // the reader's own dense index, from 0
  std::int64_t* movie_ext;
  float* value;
  double* raw;
  std::int64_t* rated_at;
};

Out out_at(Columns& c, std::size_t at) {
  auto ptr = [at](auto& v) { return v.empty() ? nullptr : v.data() + at; };
  return {ptr(c.user), ptr(c.movie), ptr(c.value), ptr(c.rating), ptr(c.rated_at)};
}

// Steps `stmt` (user_id, movie_id, rating, rated_at in key order), writing
// at most `limit` rows to `out` and appending distinct users to `user_ids`.
// Returns the rows the statement yielded (more than `limit` means the table
// changed since it was counted; those rows are not written).
std::int64_t read_rows(sqlite3* handle, sqlite3_stmt* stmt, const std::string& file,
                       const Want& want, std::int64_t limit, const Out& out,
                       std::vector<std::int64_t>& user_ids) {
  ValueCache map(want.map, file + ": table ratings");
  std::int64_t i = 0;
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    if (i == limit) return limit + 1;
    const std::int64_t u = sqlite3_column_int64(stmt, 0);
    if (user_ids.empty() || user_ids.back() != u) user_ids.push_back(u);
    out.user[i] = static_cast<std::int32_t>(user_ids.size() - 1);
    out.movie_ext[i] = sqlite3_column_int64(stmt, 1);
    const double stored = sqlite3_column_double(stmt, 2);
    if (out.value) out.value[i] = map(stored);
    if (out.raw) out.raw[i] = stored;
    if (out.rated_at) out.rated_at[i] = sqlite3_column_int64(stmt, 3);
    ++i;
  }
  if (rc != SQLITE_DONE) {
    throw DatabaseError(file + ": reading ratings: " + sqlite3_errmsg(handle));
  }
  return i;
}

// Splits [lo, hi] into up to `parts` ranges of equal width.
std::vector<Range> split_ids(std::int64_t lo, std::int64_t hi, int parts) {
  // hi - lo + 1 fits: the import keeps ids positive.
  const std::uint64_t span = static_cast<std::uint64_t>(hi - lo) + 1;
  const std::uint64_t n = std::min<std::uint64_t>(span, static_cast<std::uint64_t>(parts));
  std::vector<Range> out;
  std::int64_t begin = lo;
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::uint64_t width = span / n + (i < span % n ? 1 : 0);
    Range r;
    r.lo = begin;
    r.hi = begin + static_cast<std::int64_t>(width - 1);
    out.push_back(r);
    begin += static_cast<std::int64_t>(width);
  }
  return out;
}

void exec(sqlite3* handle, const std::string& name, const char* sql) {
  if (sqlite3_exec(handle, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
    throw DatabaseError(name + ": " + sql + ": " + sqlite3_errmsg(handle));
  }
}

// Opens another connection as `main` was opened: a database read as
// immutable (db::open_read_only on a read-only copy) again as immutable.
Connection open_reader(const char* file, const std::string& name, bool immutable) {
  sqlite3* handle = nullptr;
  const std::string uri = immutable ? db::immutable_uri(file) : std::string(file);
  const int rc = sqlite3_open_v2(
      uri.c_str(), &handle,
      SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | (immutable ? SQLITE_OPEN_URI : 0), nullptr);
  Connection owner(handle, sqlite3_close_v2);
  if (rc != SQLITE_OK) {
    throw DatabaseError(
        name + ": opening a reader: " + (handle ? sqlite3_errmsg(handle) : sqlite3_errstr(rc)));
  }
  sqlite3_busy_timeout(handle, 5000);
  return owner;
}

// Fills `c` by the parallel read, or returns false when that does not apply
// (this connection is in a transaction, whose uncommitted rows other
// connections cannot see, or the database has no file); the caller then
// reads on its own connection. Each range is counted and read in one
// snapshot; the pipeline's run lock keeps other runs from writing between
// the ranges' snapshots.
bool read_parallel(SQLite::Database& db, const Want& want, Columns& c) {
  sqlite3* handle = db.getHandle();
  const char* file = sqlite3_db_filename(handle, "main");
  if (sqlite3_get_autocommit(handle) == 0 || file == nullptr || *file == '\0') return false;
  const bool immutable = sqlite3_uri_boolean(file, "immutable", 0) != 0;
  const std::string name = db.getFilename();
  const std::string where = name + ": table ratings";
  // Two statements: SQLite answers a lone min() or max() from the b-tree's
  // ends, but scans the whole table for both in one SELECT.
  auto bound = [&](const char* sql, std::int64_t& out) {
    Statement q = prepare(handle, where, sql);
    if (sqlite3_step(q.get()) != SQLITE_ROW || sqlite3_column_type(q.get(), 0) == SQLITE_NULL) {
      return false;
    }
    out = sqlite3_column_int64(q.get(), 0);
    return true;
  };
  std::int64_t lo = 0, hi = 0;
  if (!bound("SELECT min(user_id) FROM ratings", lo) ||
      !bound("SELECT max(user_id) FROM ratings", hi)) {
    return false;
  }
  lo = std::max(lo, want.first_user);
  hi = std::min(hi, want.last_user);
  if (lo > hi) return false;
  std::vector<Range> ranges = split_ids(lo, hi, kRanges);

  // Count each range, each on its own connection kept open for its read.
  std::vector<Connection> readers;
  for (std::size_t i = 0; i < ranges.size(); ++i) readers.emplace_back(nullptr, sqlite3_close_v2);
  tbb::parallel_for(std::size_t{0}, ranges.size(), [&](std::size_t i) {
    readers[i] = open_reader(file, name, immutable);
    // The count and the read below share one read transaction (snapshot).
    exec(readers[i].get(), name, "BEGIN");
    Statement count = prepare(readers[i].get(), where,
                              "SELECT count(*) FROM ratings WHERE user_id >= ?1 AND user_id <= ?2");
    sqlite3_bind_int64(count.get(), 1, ranges[i].lo);
    sqlite3_bind_int64(count.get(), 2, ranges[i].hi);
    if (sqlite3_step(count.get()) != SQLITE_ROW) {
      throw DatabaseError(name + ": counting ratings: " + sqlite3_errmsg(readers[i].get()));
    }
    ranges[i].rows = sqlite3_column_int64(count.get(), 0);
  });
  std::int64_t rows = 0;
  for (auto& range : ranges) {
    range.offset = rows;
    rows += range.rows;
  }
  if (rows == 0) return false;

  size_columns(c, want, static_cast<std::size_t>(rows));
  std::vector<std::vector<std::int64_t>> user_ids(ranges.size());
  tbb::parallel_for(std::size_t{0}, ranges.size(), [&](std::size_t i) {
    Range& range = ranges[i];
    Statement stmt = prepare(readers[i].get(), where,
                             "SELECT user_id, movie_id, rating, rated_at FROM ratings "
                             "WHERE user_id >= ?1 AND user_id <= ?2 ORDER BY user_id, movie_id");
    sqlite3_bind_int64(stmt.get(), 1, range.lo);
    sqlite3_bind_int64(stmt.get(), 2, range.hi);
    const std::int64_t got =
        read_rows(readers[i].get(), stmt.get(), name, want, range.rows,
                  out_at(c, static_cast<std::size_t>(range.offset)), user_ids[i]);
    range.complete = got == range.rows;
    range.users = static_cast<std::int32_t>(user_ids[i].size());
    stmt.reset();
    exec(readers[i].get(), name, "COMMIT");
    readers[i].reset();
  });
  if (!std::all_of(ranges.begin(), ranges.end(), [](const Range& x) { return x.complete; })) {
    return false;
  }
  // Each range numbered its users from 0; shift them past the earlier ranges'.
  std::int32_t users_before = 0;
  c.user_ids.clear();
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    if (users_before > 0) {
      std::int32_t* u = c.user.data() + ranges[i].offset;
      for (std::int64_t k = 0; k < ranges[i].rows; ++k) u[k] += users_before;
    }
    c.user_ids.insert(c.user_ids.end(), user_ids[i].begin(), user_ids[i].end());
    users_before += ranges[i].users;
  }
  return true;
}

// One scan on the caller's connection, counted first inside the same read
// transaction (the caller's, or one opened here) so both see one snapshot.
void read_serial(SQLite::Database& db, const Want& want, Columns& c) {
  sqlite3* handle = db.getHandle();
  const std::string where = db.getFilename() + ": table ratings";
  std::optional<SQLite::Transaction> snapshot;
  if (sqlite3_get_autocommit(handle) != 0) snapshot.emplace(db);
  SQLite::Statement count(db, "SELECT count(*) FROM ratings WHERE user_id >= ?1 AND user_id <= ?2");
  count.bind(1, want.first_user);
  count.bind(2, want.last_user);
  count.executeStep();
  const auto rows = count.getColumn(0).getInt64();
  count.reset();
  c = Columns{};
  size_columns(c, want, static_cast<std::size_t>(rows));
  Statement stmt = prepare(handle, where,
                           "SELECT user_id, movie_id, rating, rated_at FROM ratings "
                           "WHERE user_id >= ?1 AND user_id <= ?2 ORDER BY user_id, movie_id");
  sqlite3_bind_int64(stmt.get(), 1, want.first_user);
  sqlite3_bind_int64(stmt.get(), 2, want.last_user);
  if (read_rows(handle, stmt.get(), db.getFilename(), want, rows, out_at(c, 0), c.user_ids) !=
      rows) {
    throw DatabaseError(db.getFilename() + ": the ratings table changed while it was read");
  }
  stmt.reset();
  if (snapshot) snapshot->commit();
}

Columns read_columns(SQLite::Database& db, const Want& want, bool parallel) {
  Columns c;
  if (!parallel || !read_parallel(db, want, c)) read_serial(db, want, c);
  return c;
}

class SqliteRatings final : public RatingsRepository {
 public:
  explicit SqliteRatings(SQLite::Database& db) : db_(db) {}

  StoredRatings read(const RatingsRequest& request) override {
    Want want;
    want.map = request.value ? &request.value : nullptr;
    want.raw = request.rating;
    want.rated_at = request.rated_at;
    want.first_user = request.first_user;
    want.last_user = request.last_user;
    return translate_errors(db_, [&] { return read_columns(db_, want, request.parallel); });
  }

  std::int64_t version() override {
    return translate_errors(db_, [&] { return db_.execAndGet("PRAGMA data_version").getInt64(); });
  }

  Census census() override {
    return translate_errors(db_, [&] {
      // One scan in key order, counted here: GROUP BY rating would sort
      // every row (10 s at 25 M ratings against 1.5 s for the scan).
      sqlite3* handle = db_.getHandle();
      std::optional<SQLite::Transaction> snapshot;
      if (sqlite3_get_autocommit(handle) != 0) snapshot.emplace(db_);
      Statement stmt = prepare(handle, db_.getFilename() + ": table ratings",
                               "SELECT user_id, rating FROM ratings ORDER BY user_id, movie_id");
      Census c;
      std::int64_t last_user = 0;
      std::size_t last_value = 0;
      int rc = SQLITE_ROW;
      while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
        const std::int64_t user = sqlite3_column_int64(stmt.get(), 0);
        const double value = sqlite3_column_double(stmt.get(), 1);
        if (c.users == 0 || user != last_user) ++c.users;
        last_user = user;
        // Few distinct values, usually in runs: the last one first.
        if (last_value >= c.counts.size() || c.counts[last_value].first != value) {
          last_value = static_cast<std::size_t>(
              std::find_if(c.counts.begin(), c.counts.end(),
                           [&](const auto& e) { return e.first == value; }) -
              c.counts.begin());
          if (last_value == c.counts.size()) c.counts.emplace_back(value, 0);
        }
        ++c.counts[last_value].second;
      }
      if (rc != SQLITE_DONE) throw DatabaseError(db_.getFilename() + ": " + sqlite3_errmsg(handle));
      stmt.reset();
      if (snapshot) snapshot->commit();
      std::sort(c.counts.begin(), c.counts.end());
      return c;
    });
  }

  std::string source() const override { return db_.getFilename(); }

 private:
  SQLite::Database& db_;
};

}  // namespace

std::unique_ptr<RatingsRepository> sqlite_ratings(SQLite::Database& db) {
  return std::make_unique<SqliteRatings>(db);
}

}  // namespace recs::db
