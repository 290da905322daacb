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
#include "util/log.h"

namespace recs::db::sets {
namespace {

// The tables one published set consists of, renamed together.
constexpr std::array<std::string_view, 6> kTables = {"recommendations", "similar_movies",
                                                     "user_clusters",   "movie_clusters",
                                                     "cluster_popular", "excluded_movies"};

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

// The temporary tables remove_gone() works from, dropped when it is done.
constexpr const char* kGoneUsers = "temp.recs_gone_users";
constexpr const char* kGoneMovies = "temp.recs_gone_movies";

void fill_gone(SQLite::Database& db, const char* table, const char* column,
               const std::vector<std::int64_t>& ids) {
  db.exec(fmt::format("CREATE TEMP TABLE {} ({} INTEGER PRIMARY KEY)",
                      std::string_view(table).substr(5), column));
  SQLite::Statement insert(db, fmt::format("INSERT OR IGNORE INTO {} VALUES (?)", table));
  for (std::int64_t id : ids) {
    insert.bind(1, id);
    insert.exec();
    insert.reset();
  }
}

// The columns of `table`, comma-separated, with `rank` replaced by its
// place in its list (`key`'s), counted from 1 in rank order.
std::string renumbered_columns(SQLite::Database& db, const std::string& table,
                               std::string_view key) {
  std::string columns;
  SQLite::Statement info(db,
                         fmt::format("SELECT name FROM pragma_table_info({})", "'" + table + "'"));
  while (info.executeStep()) {
    const std::string column = info.getColumn(0).getString();
    if (!columns.empty()) columns += ", ";
    columns += column == "rank"
                   ? fmt::format("row_number() OVER (PARTITION BY {} ORDER BY rank)", key)
                   : quote(column);
  }
  return columns;
}

// Writes `table` again without the rows matching `where`, ranks renumbered,
// into a fresh table of the same DDL (indexes too) that takes its name: at
// ML-25M size a tenth of the time of moving most of 16 M rows in place.
void rebuild_without(SQLite::Database& db, const std::string& table, std::string_view key,
                     const std::string& where) {
  const std::string fresh = table + "_renumbered";
  std::string ddl =
      db
          .execAndGet(fmt::format(
              "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = '{}'", table))
          .getString();
  ddl = fmt::format("CREATE TABLE {} {}", quote(fresh), ddl.substr(ddl.find('(')));
  std::vector<std::pair<std::string, std::string>> indexes;
  {
    SQLite::Statement q(db, fmt::format("SELECT name, sql FROM sqlite_schema WHERE type = 'index' "
                                        "AND tbl_name = '{}' AND sql IS NOT NULL",
                                        table));
    while (q.executeStep())
      indexes.emplace_back(q.getColumn(0).getString(), q.getColumn(1).getString());
  }
  db.exec(ddl);
  db.exec(fmt::format("INSERT INTO {} SELECT {} FROM {} WHERE NOT ({}) ORDER BY {}, rank",
                      quote(fresh), renumbered_columns(db, table, key), quote(table), where, key));
  for (const auto& index : indexes) db.exec("DROP INDEX " + quote(index.first));
  db.exec("DELETE FROM " + quote(table));  // frees its pages without a statement journal
  db.exec("DROP TABLE " + quote(table));
  {
    PlainRenames plain(db);
    db.exec(fmt::format("ALTER TABLE {} RENAME TO {}", quote(fresh), quote(table)));
  }
  for (const auto& index : indexes) db.exec(index.second);
}

// Deletes the rows of ranked table `table` (key (`key`, rank)) that match
// `where`, and renumbers the lists that lost one from rank 1, in their
// order. `lists`, when known, is how many lists the table holds: when most
// of them lose a row the table is written again (rebuild_without), else only
// those lists are. Returns the rows deleted and how many of those lists are
// now empty.
std::pair<std::int64_t, std::int64_t> delete_and_renumber(SQLite::Database& db,
                                                          const std::string& table,
                                                          std::string_view key,
                                                          const std::string& where,
                                                          std::int64_t lists = 0) {
  db.exec(fmt::format("CREATE TEMP TABLE recs_touched AS SELECT DISTINCT {} AS k FROM {} WHERE {}",
                      key, quote(table), where));
  const std::int64_t touched = db.execAndGet("SELECT count(*) FROM temp.recs_touched").getInt64();
  std::int64_t deleted = 0;
  if (touched > 0 && lists > 0 && touched * 4 > lists) {
    log::debug("{}: {} of its {} lists lose a row: written again without them", table, touched,
               lists);
    const std::int64_t before = db.execAndGet("SELECT count(*) FROM " + quote(table)).getInt64();
    rebuild_without(db, table, key, where);
    deleted = before - db.execAndGet("SELECT count(*) FROM " + quote(table)).getInt64();
  } else if (touched > 0) {
    log::debug("{}: {} list(s) lose a row: renumbered in place", table, touched);
    // The touched lists, renumbered, aside; then written back in key order.
    const std::string in_touched = fmt::format("{} IN (SELECT k FROM temp.recs_touched)", key);
    db.exec(fmt::format(
        "CREATE TEMP TABLE recs_renumbered AS SELECT {} FROM {} WHERE {} AND NOT ({}) ORDER BY "
        "{}, rank",
        renumbered_columns(db, table, key), quote(table), in_touched, where, key));
    const std::int64_t kept = db.execAndGet("SELECT count(*) FROM temp.recs_renumbered").getInt64();
    deleted = db.exec(fmt::format("DELETE FROM {} WHERE {}", quote(table), in_touched)) - kept;
    db.exec(fmt::format("INSERT INTO {} SELECT * FROM temp.recs_renumbered", quote(table)));
    db.exec("DROP TABLE temp.recs_renumbered");
  }
  const std::int64_t emptied =
      touched == 0 ? 0
                   : db.execAndGet(fmt::format("SELECT count(*) FROM temp.recs_touched t WHERE NOT "
                                               "EXISTS (SELECT 1 FROM {} WHERE {} = t.k)",
                                               quote(table), key))
                         .getInt64();
  db.exec("DROP TABLE temp.recs_touched");
  return {deleted, emptied};
}

// remove_gone() on one set: the live one (no id) or kept set `set_id`, of
// `lists` users. Returns its recommendation rows dropped and its users left
// without any.
std::pair<std::int64_t, std::int64_t> remove_gone_from(SQLite::Database& db,
                                                       std::optional<std::int64_t> set_id,
                                                       std::int64_t lists, bool users,
                                                       bool movies) {
  auto name = [&](std::string_view table) {
    return set_id ? kept_name(table, *set_id) : std::string(table);
  };
  auto exists = [&](std::string_view table) { return db.tableExists(name(table)); };
  const std::string gone_users = fmt::format("user_id IN (SELECT user_id FROM {})", kGoneUsers);
  auto gone_movies = [&](std::string_view column) {
    return fmt::format("{} IN (SELECT movie_id FROM {})", column, kGoneMovies);
  };
  std::int64_t rows = 0, emptied = 0;
  if (exists("recommendations")) {
    const std::string rec = name("recommendations");
    if (users) {
      emptied += db.execAndGet(fmt::format("SELECT count(*) FROM {} g WHERE EXISTS (SELECT 1 "
                                           "FROM {} WHERE user_id = g.user_id)",
                                           kGoneUsers, quote(rec)))
                     .getInt64();
      rows += db.exec(fmt::format("DELETE FROM {} WHERE {}", quote(rec), gone_users));
    }
    if (movies) {
      const auto [deleted, empty] =
          delete_and_renumber(db, rec, "user_id", gone_movies("movie_id"), lists);
      rows += deleted;
      emptied += empty;
      db.exec(fmt::format("UPDATE {} SET because_movie_id = NULL WHERE {}", quote(rec),
                          gone_movies("because_movie_id")));
    }
  }
  if (users && exists("user_clusters")) {
    db.exec(fmt::format("DELETE FROM {} WHERE {}", quote(name("user_clusters")), gone_users));
  }
  if (movies) {
    if (exists("similar_movies")) {
      const std::string similar = name("similar_movies");
      db.exec(fmt::format("DELETE FROM {} WHERE {}", quote(similar), gone_movies("movie_id")));
      delete_and_renumber(db, similar, "movie_id", gone_movies("similar_movie_id"));
    }
    if (exists("movie_clusters")) {
      db.exec(fmt::format("DELETE FROM {} WHERE {}", quote(name("movie_clusters")),
                          gone_movies("movie_id")));
    }
    if (exists("cluster_popular")) {
      delete_and_renumber(db, name("cluster_popular"), "cluster", gone_movies("movie_id"));
    }
  }
  return {rows, emptied};
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

void mark_excluded(SQLite::Database& db) {
  db.exec(
      "UPDATE movie_stats SET excluded = (movie_id IN (SELECT movie_id FROM excluded_movies)) "
      "WHERE excluded <> (movie_id IN (SELECT movie_id FROM excluded_movies))");
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
  mark_excluded(db);  // the restored set's filters
  return k;
}

Removed remove_gone(SQLite::Database& db, const std::vector<std::int64_t>& users,
                    const std::vector<std::int64_t>& movies) {
  Removed removed;
  if (users.empty() && movies.empty()) return removed;
  fill_gone(db, kGoneUsers, "user_id", users);
  fill_gone(db, kGoneMovies, "movie_id", movies);
  auto note = [&](std::int64_t rows, std::int64_t emptied, SQLite::Statement& counts) {
    if (rows == 0 && emptied == 0) return;
    removed.rows += rows;
    ++removed.sets;
    counts.bind(1, rows);
    counts.bind(2, emptied);
    counts.exec();
    counts.reset();
  };
  if (db.execAndGet("SELECT count(*) FROM publication").getInt64() > 0) {
    // (A column keeps its statement alive, and an active statement would
    // block the DROP TABLEs below: read it first.)
    const std::int64_t lists = db.execAndGet("SELECT user_count FROM publication").getInt64();
    const auto [rows, emptied] =
        remove_gone_from(db, std::nullopt, lists, !users.empty(), !movies.empty());
    SQLite::Statement counts(
        db, "UPDATE publication SET row_count = row_count - ?, user_count = user_count - ?");
    note(rows, emptied, counts);
  }
  for (const KeptSet& k : list(db)) {
    const auto [rows, emptied] =
        remove_gone_from(db, k.set_id, k.user_count, !users.empty(), !movies.empty());
    SQLite::Statement counts(db,
                             "UPDATE kept_sets SET row_count = row_count - ?, user_count = "
                             "user_count - ? WHERE set_id = ?");
    counts.bind(3, k.set_id);
    note(rows, emptied, counts);
  }
  db.exec(fmt::format("DROP TABLE {}", kGoneUsers));
  db.exec(fmt::format("DROP TABLE {}", kGoneMovies));
  return removed;
}

std::int64_t clear_because(SQLite::Database& db,
                           const std::vector<std::pair<std::int64_t, std::int64_t>>& pairs) {
  if (pairs.empty()) return 0;
  std::vector<std::string> tables;
  if (db.execAndGet("SELECT count(*) FROM publication").getInt64() > 0) {
    tables.emplace_back("recommendations");
  }
  for (const KeptSet& k : list(db)) tables.push_back(kept_name("recommendations", k.set_id));
  std::int64_t changed = 0;
  for (const std::string& table : tables) {
    if (!db.tableExists(table)) continue;
    // An index search on the user's list (the key's prefix) per pair.
    SQLite::Statement clear(db, fmt::format("UPDATE {} SET because_movie_id = NULL WHERE user_id "
                                            "= ? AND because_movie_id = ?",
                                            quote(table)));
    for (const auto& [user, movie] : pairs) {
      clear.bind(1, user);
      clear.bind(2, movie);
      changed += clear.exec();
      clear.reset();
    }
  }
  return changed;
}

Removed remove_stale(SQLite::Database& db, std::int64_t* users, std::int64_t* movies) {
  std::vector<std::string> user_ids, movie_ids;  // SELECTs of one id column
  auto add = [&](std::optional<std::int64_t> set_id) {
    auto from = [&](std::string_view table, std::string_view column,
                    std::vector<std::string>& out) {
      const std::string name = set_id ? kept_name(table, *set_id) : std::string(table);
      if (!db.tableExists(name)) return;
      out.push_back(fmt::format("SELECT {} AS id FROM {}", column, quote(name)));
    };
    from("recommendations", "user_id", user_ids);
    from("user_clusters", "user_id", user_ids);
    from("recommendations", "movie_id", movie_ids);
    from("recommendations", "because_movie_id", movie_ids);
    from("similar_movies", "movie_id", movie_ids);
    from("similar_movies", "similar_movie_id", movie_ids);
    from("movie_clusters", "movie_id", movie_ids);
    from("cluster_popular", "movie_id", movie_ids);
  };
  add(std::nullopt);
  for (const KeptSet& k : list(db)) add(k.set_id);
  auto gone = [&](const std::vector<std::string>& sources, const std::string& unknown) {
    std::vector<std::int64_t> ids;
    if (sources.empty()) return ids;
    std::string all;
    for (const std::string& s : sources) all += (all.empty() ? "" : " UNION ") + s;
    SQLite::Statement q(
        db, fmt::format("SELECT id FROM ({}) AS t WHERE id IS NOT NULL AND {}", all, unknown));
    while (q.executeStep()) ids.push_back(q.getColumn(0).getInt64());
    return ids;
  };
  const std::vector<std::int64_t> u =
      gone(user_ids, "NOT EXISTS (SELECT 1 FROM ratings r WHERE r.user_id = t.id)");
  const std::vector<std::int64_t> m =
      gone(movie_ids,
           "NOT EXISTS (SELECT 1 FROM movies c WHERE c.movie_id = t.id) AND NOT EXISTS (SELECT 1 "
           "FROM movie_stats s WHERE s.movie_id = t.id)");
  *users = static_cast<std::int64_t>(u.size());
  *movies = static_cast<std::int64_t>(m.size());
  Removed removed = remove_gone(db, u, m);
  // A "because" naming a movie the user no longer rates (a rating an
  // earlier import deleted), as an import now clears it.
  std::vector<std::string> tables{"recommendations"};
  for (const KeptSet& k : list(db)) tables.push_back(kept_name("recommendations", k.set_id));
  for (const std::string& table : tables) {
    if (!db.tableExists(table)) continue;
    removed.because_cleared += db.exec(
        fmt::format("UPDATE {} SET because_movie_id = NULL WHERE because_movie_id IS NOT NULL AND "
                    "NOT EXISTS (SELECT 1 FROM ratings r WHERE r.user_id = {}.user_id AND "
                    "r.movie_id = {}.because_movie_id)",
                    quote(table), quote(table), quote(table)));
  }
  return removed;
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
