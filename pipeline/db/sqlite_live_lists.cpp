// The SQLite live lists: a read-only connection of their own holds a read
// transaction from construction, so in WAL mode it keeps seeing the set
// that was live then while the publisher deletes and rewrites it on the
// main connection; one scan in key order serves every list_of(). Raw
// statements, as for the ratings: at ML-25M size this reads 16 M rows.
#include <sqlite3.h>

#include <memory>
#include <string>

#include "db/database.h"
#include "db/sqlite.h"
#include "util/error.h"

namespace recs::db {
namespace {

class SqliteLiveLists final : public LiveLists {
 public:
  // Takes the snapshot and reads the first row; `empty()` when nothing is
  // live.
  explicit SqliteLiveLists(const std::string& file) : name_(file) {
    sqlite3* handle = nullptr;
    // No mutex: calls come one at a time (the publisher's sink).
    int rc =
        sqlite3_open_v2(file.c_str(), &handle, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
    connection_.reset(handle);
    if (rc != SQLITE_OK) fail("opening a reader");
    sqlite3_busy_timeout(handle, kBusyTimeoutMs);
    if (sqlite3_exec(handle, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK) fail("BEGIN");
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(handle,
                           "SELECT user_id, movie_id FROM recommendations ORDER BY user_id, rank",
                           -1, &stmt, nullptr) != SQLITE_OK) {
      sqlite3_finalize(stmt);
      fail("reading the live recommendations");
    }
    statement_.reset(stmt);
    step();
  }

  bool empty() const { return done_ && !read_any_; }

  void list_of(std::int64_t user, std::vector<std::int64_t>& movies) override {
    movies.clear();
    while (!done_ && user_ < user) step();
    while (!done_ && user_ == user) {
      movies.push_back(movie_);
      step();
    }
  }

 private:
  struct Finalize {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  struct Close {
    void operator()(sqlite3* c) const { sqlite3_close_v2(c); }
  };

  [[noreturn]] void fail(const char* what) {
    sqlite3* c = connection_.get();
    throw DatabaseError(name_ + ": " + what + ": " + (c ? sqlite3_errmsg(c) : "out of memory"));
  }

  void step() {
    const int rc = sqlite3_step(statement_.get());
    if (rc == SQLITE_DONE) {
      done_ = true;
      return;
    }
    if (rc != SQLITE_ROW) fail("reading the live recommendations");
    user_ = sqlite3_column_int64(statement_.get(), 0);
    movie_ = sqlite3_column_int64(statement_.get(), 1);
    read_any_ = true;
  }

  std::string name_;
  // Declared before the statement, so closed after it is finalized; closing
  // ends the read transaction.
  std::unique_ptr<sqlite3, Close> connection_;
  std::unique_ptr<sqlite3_stmt, Finalize> statement_;
  std::int64_t user_ = 0, movie_ = 0;
  bool done_ = false, read_any_ = false;
};

}  // namespace

std::unique_ptr<LiveLists> sqlite_live_lists(SQLite::Database& db) {
  const std::string file = db.getFilename();
  if (file.empty()) return nullptr;  // an in-memory or temporary database
  auto lists = std::make_unique<SqliteLiveLists>(file);
  if (lists->empty()) return nullptr;
  return lists;
}

}  // namespace recs::db
