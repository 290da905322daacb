// The kept sets on SQLite, and the rollback. Renaming a table touches only
// the schema, never its pages, so keeping the old set costs a publish
// nothing beyond dropping the set it pushes out (which frees pages as
// deleting its rows did before), and a rollback costs a few milliseconds
// whatever the set's size. SQLite's DDL is transactional: in WAL mode
// readers see the old tables until the commit and the other ones after it,
// and a failure or a kill at any moment leaves the old ones.
#include "db/sqlite_publish_sets.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <string_view>

#include "db/database.h"
#include "db/sqlite.h"
#include "db/sqlite_error.h"
#include "util/error.h"

namespace recs::db::sets {
namespace {

// The tables one published set consists of, renamed together.
constexpr std::array<std::string_view, 5> kTables = {
    "recommendations", "similar_movies", "user_clusters", "movie_clusters", "cluster_popular"};

constexpr const char* kKeptColumns =
    "set_id, run_id, model_id, published_at, user_count, row_count, top_n";

// The publication columns a kept set preserves, in both tables' order.
constexpr const char* kPublicationColumns =
    "run_id, model_id, published_at, user_count, row_count, top_n, similar_k, user_clusters, "
    "movie_clusters";

std::string kept_name(std::string_view table, std::int64_t set_id) {
  return fmt::format("{}_kept{}", table, set_id);
}

std::string quote(std::string_view name) { return fmt::format("\"{}\"", name); }

std::optional<std::int64_t> optional_id(const SQLite::Column& c) {
  if (c.isNull()) return std::nullopt;
  return c.getInt64();
}

KeptSet read_kept(SQLite::Statement& q) {
  KeptSet k;
  k.set_id = q.getColumn(0).getInt64();
  k.run_id = optional_id(q.getColumn(1));
  k.model_id = optional_id(q.getColumn(2));
  k.published_at = q.getColumn(3).getString();
  k.user_count = q.getColumn(4).getInt64();
  k.row_count = q.getColumn(5).getInt64();
  k.top_n = q.getColumn(6).getInt();
  return k;
}

KeptSet kept(SQLite::Database& db, std::int64_t set_id) {
  SQLite::Statement q(db, fmt::format("SELECT {} FROM kept_sets WHERE set_id = ?", kKeptColumns));
  q.bind(1, set_id);
  if (!q.executeStep()) {
    throw NotFoundError(fmt::format("{}: kept set {} does not exist", db.getFilename(), set_id));
  }
  return read_kept(q);
}

void drop_set(SQLite::Database& db, std::int64_t set_id) {
  for (std::string_view table : kTables) {
    const std::string name = quote(kept_name(table, set_id));
    // Emptied first: DROP TABLE runs with a statement journal, so freeing a
    // big table's pages inside it (zeroed: Debian's SQLite is built with
    // SECURE_DELETE) copies every one of them to a temporary file first; a
    // DELETE of every row frees them without one, as the old set's delete
    // always did.
    if (db.tableExists(kept_name(table, set_id))) db.exec("DELETE FROM " + name);
    db.exec("DROP TABLE IF EXISTS " + name);
  }
  SQLite::Statement del(db, "DELETE FROM kept_sets WHERE set_id = ?");
  del.bind(1, set_id);
  del.exec();
}

}  // namespace

LiveDdl live_ddl(SQLite::Database& db) {
  LiveDdl ddl;
  SQLite::Statement table(db, "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?");
  SQLite::Statement index(db,
                          "SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND "
                          "tbl_name = ? AND sql IS NOT NULL ORDER BY name");
  for (std::string_view name : kTables) {
    table.bind(1, std::string(name));
    if (!table.executeStep()) {
      throw DatabaseError(fmt::format("{}: the {} table is missing", db.getFilename(), name));
    }
    ddl.tables.push_back(table.getColumn(0).getString());
    table.reset();
    index.bind(1, std::string(name));
    while (index.executeStep()) {
      ddl.index_names.push_back(index.getColumn(0).getString());
      ddl.indexes.push_back(index.getColumn(1).getString());
    }
    index.reset();
  }
  return ddl;
}

std::vector<KeptSet> list(SQLite::Database& db) {
  SQLite::Statement q(db,
                      fmt::format("SELECT {} FROM kept_sets ORDER BY set_id DESC", kKeptColumns));
  std::vector<KeptSet> out;
  while (q.executeStep()) out.push_back(read_kept(q));
  return out;
}

std::vector<KeptSet> trim(SQLite::Database& db, int keep) {
  std::vector<KeptSet> all = list(db);
  std::vector<KeptSet> dropped;
  for (std::size_t i = static_cast<std::size_t>(std::max(keep, 0)); i < all.size(); ++i) {
    drop_set(db, all[i].set_id);
    dropped.push_back(all[i]);
  }
  return dropped;
}

std::optional<KeptSet> retire_live(SQLite::Database& db, const LiveDdl& ddl) {
  SQLite::Statement copy(db, fmt::format("INSERT INTO kept_sets ({0}, retired_at) "
                                         "SELECT {0}, ? FROM publication",
                                         kPublicationColumns));
  copy.bind(1, utc_now());
  if (copy.exec() == 0) return std::nullopt;
  const std::int64_t set_id = db.getLastInsertRowid();
  for (const std::string& name : ddl.index_names) db.exec("DROP INDEX " + quote(name));
  for (std::string_view table : kTables) {
    db.exec(
        fmt::format("ALTER TABLE {} RENAME TO {}", quote(table), quote(kept_name(table, set_id))));
  }
  db.exec("DELETE FROM publication");
  return kept(db, set_id);
}

void create_live(SQLite::Database& db, const LiveDdl& ddl) {
  for (const std::string& sql : ddl.tables) db.exec(sql);
  for (const std::string& sql : ddl.indexes) db.exec(sql);
}

KeptSet restore(SQLite::Database& db, const LiveDdl& ddl, std::int64_t set_id) {
  KeptSet k = kept(db, set_id);
  for (std::size_t i = 0; i < kTables.size(); ++i) {
    const std::string name = kept_name(kTables[i], set_id);
    if (db.tableExists(name)) {
      db.exec(fmt::format("ALTER TABLE {} RENAME TO {}", quote(name), quote(kTables[i])));
    } else {
      db.exec(ddl.tables[i]);  // kept before the table existed: it held nothing
    }
  }
  for (const std::string& sql : ddl.indexes) db.exec(sql);
  SQLite::Statement publish(db, fmt::format("INSERT OR REPLACE INTO publication (id, {0}) "
                                            "SELECT 1, {0} FROM kept_sets WHERE set_id = ?",
                                            kPublicationColumns));
  publish.bind(1, set_id);
  publish.exec();
  SQLite::Statement del(db, "DELETE FROM kept_sets WHERE set_id = ?");
  del.bind(1, set_id);
  del.exec();
  return k;
}

void drop_live(SQLite::Database& db) {
  for (std::string_view table : kTables) db.exec("DROP TABLE " + quote(table));
}

PlainRenames::PlainRenames(SQLite::Database& db) : db_(db) {
  db_.exec("PRAGMA legacy_alter_table = ON");
}

PlainRenames::~PlainRenames() { db_.tryExec("PRAGMA legacy_alter_table = OFF"); }

}  // namespace recs::db::sets

namespace recs::db {
namespace {

class SqliteKeptSets final : public KeptSets {
 public:
  explicit SqliteKeptSets(SQLite::Database& db)
      : db_(db), context_(db.getFilename() + ": rollback failed, the live set stays in place") {}

  std::vector<KeptSet> list() override {
    return translate_errors(db_, [&] { return sets::list(db_); });
  }

  Rollback rollback(std::optional<std::int64_t> published_by) override {
    return translate_errors(context_, [&] {
      SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
      const std::int64_t target = find_target(published_by);
      const sets::LiveDdl ddl = sets::live_ddl(db_);
      Rollback r;
      {
        sets::PlainRenames plain(db_);
        r.retired = sets::retire_live(db_, ddl);
        if (!r.retired) sets::drop_live(db_);  // unpublished tables hold nothing to keep
        r.restored = sets::restore(db_, ddl, target);
      }
      tx.commit();
      return r;
    });
  }

 private:
  std::int64_t find_target(std::optional<std::int64_t> published_by) {
    std::string sql = "SELECT set_id FROM kept_sets";
    if (published_by) sql += " WHERE run_id = ?";
    SQLite::Statement q(db_, sql + " ORDER BY set_id DESC LIMIT 1");
    if (published_by) q.bind(1, *published_by);
    if (!q.executeStep()) {
      throw NotFoundError(published_by
                              ? fmt::format("no kept set was published by run {}", *published_by)
                              : std::string("nothing to roll back to: no published set is kept "
                                            "besides the live one"));
    }
    return q.getColumn(0).getInt64();
  }

  SQLite::Database& db_;
  std::string context_;
};

}  // namespace

std::unique_ptr<KeptSets> sqlite_kept_sets(SQLite::Database& db) {
  return std::make_unique<SqliteKeptSets>(db);
}

}  // namespace recs::db
