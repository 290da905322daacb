// The SQLite model repository: ids and vectors as little-endian blobs.
#include <SQLiteCpp/SQLiteCpp.h>

#include <bit>
#include <cstring>
#include <optional>
#include <string>

#include "db/database.h"
#include "db/model_store.h"
#include "db/sqlite.h"
#include "db/sqlite_error.h"
#include "util/error.h"

namespace recs::db {
namespace {

static_assert(std::endian::native == std::endian::little,
              "model blobs are stored little-endian; add byte swapping for this platform");

template <typename T>
std::vector<T> from_blob(const SQLite::Column& col, std::size_t expected, const char* what) {
  std::size_t bytes = static_cast<std::size_t>(col.getBytes());
  if (bytes != expected * sizeof(T)) {
    throw DatabaseError(std::string("stored model is corrupt: ") + what + " has " +
                        std::to_string(bytes) + " bytes, expected " +
                        std::to_string(expected * sizeof(T)));
  }
  std::vector<T> out(expected);
  if (bytes) std::memcpy(out.data(), col.getBlob(), bytes);
  return out;
}

constexpr const char* kInfoColumns = "model_id, run_id, type, created_at";

ModelInfo read_info(SQLite::Statement& q) {
  ModelInfo info;
  info.model_id = q.getColumn(0).getInt64();
  if (!q.getColumn(1).isNull()) info.run_id = q.getColumn(1).getInt64();
  info.type = q.getColumn(2).getString();
  info.created_at = q.getColumn(3).getString();
  return info;
}

std::vector<ModelInfo> read_infos(SQLite::Statement& q) {
  std::vector<ModelInfo> out;
  while (q.executeStep()) out.push_back(read_info(q));
  return out;
}

// Beyond the newest `keep`, every model that no set (live or kept) names.
constexpr const char* kPrunable =
    "FROM models WHERE model_id NOT IN "
    "(SELECT model_id FROM models ORDER BY model_id DESC LIMIT ?) "
    "AND model_id NOT IN (SELECT model_id FROM publication WHERE model_id IS NOT NULL) "
    "AND model_id NOT IN (SELECT model_id FROM kept_sets WHERE model_id IS NOT NULL) "
    "AND model_id NOT IN (SELECT value FROM json_each(?))";

// `ids` as a JSON array, for json_each.
std::string json_ids(const std::vector<std::int64_t>& ids) {
  std::string out = "[";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(ids[i]);
  }
  return out + "]";
}

std::vector<ModelInfo> prune_models(SQLite::Database& db, int keep,
                                    const std::vector<std::int64_t>& served) {
  std::vector<ModelInfo> removed;
  {
    SQLite::Statement doomed(
        db, std::string("SELECT ") + kInfoColumns + " " + kPrunable + " ORDER BY model_id");
    doomed.bind(1, keep);
    doomed.bind(2, json_ids(served));
    removed = read_infos(doomed);
  }
  SQLite::Statement prune(db, std::string("DELETE ") + kPrunable);
  prune.bind(1, keep);
  prune.bind(2, json_ids(served));
  prune.exec();
  return removed;
}

SavedModel insert_model(SQLite::Database& db, std::int64_t run_id, const StoredModel& m,
                        const std::string& metrics_json, int keep,
                        const std::vector<std::int64_t>& served) {
  SQLite::Statement insert(
      db,
      "INSERT INTO models (run_id, created_at, type, dims, user_count, "
      "movie_count, user_ids, movie_ids, user_vectors, movie_vectors, metrics) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  insert.bind(1, run_id);
  insert.bind(2, utc_now());
  insert.bind(3, m.type);
  insert.bind(4, static_cast<std::int64_t>(m.users.cols()));
  insert.bind(5, static_cast<std::int64_t>(m.user_ids.size()));
  insert.bind(6, static_cast<std::int64_t>(m.movie_ids.size()));
  insert.bindNoCopy(7, m.user_ids.data(), static_cast<int>(m.user_ids.size() * 8));
  insert.bindNoCopy(8, m.movie_ids.data(), static_cast<int>(m.movie_ids.size() * 8));
  insert.bindNoCopy(9, m.users.data(), static_cast<int>(m.users.size() * sizeof(float)));
  insert.bindNoCopy(10, m.movies.data(), static_cast<int>(m.movies.size() * sizeof(float)));
  insert.bind(11, metrics_json);
  insert.exec();
  SavedModel saved;
  saved.model_id = db.getLastInsertRowid();
  saved.removed = prune_models(db, keep, served);
  return saved;
}

constexpr const char* kModelColumns =
    "model_id, type, created_at, dims, user_count, movie_count, user_ids, movie_ids, "
    "user_vectors, movie_vectors";

StoredModel read_model(SQLite::Statement& q) {
  StoredModel m;
  m.model_id = q.getColumn(0).getInt64();
  m.type = q.getColumn(1).getString();
  m.created_at = q.getColumn(2).getString();
  auto dims = static_cast<std::size_t>(q.getColumn(3).getInt64());
  auto nu = static_cast<std::size_t>(q.getColumn(4).getInt64());
  auto nm = static_cast<std::size_t>(q.getColumn(5).getInt64());
  m.user_ids = from_blob<std::int64_t>(q.getColumn(6), nu, "user_ids");
  m.movie_ids = from_blob<std::int64_t>(q.getColumn(7), nm, "movie_ids");
  auto uv = from_blob<float>(q.getColumn(8), nu * dims, "user_vectors");
  auto mv = from_blob<float>(q.getColumn(9), nm * dims, "movie_vectors");
  m.users = Eigen::Map<RowMatrix>(uv.data(), static_cast<Eigen::Index>(nu),
                                  static_cast<Eigen::Index>(dims));
  m.movies = Eigen::Map<RowMatrix>(mv.data(), static_cast<Eigen::Index>(nm),
                                   static_cast<Eigen::Index>(dims));
  return m;
}

// The first model `where` selects, if any.
std::optional<StoredModel> read_one(SQLite::Database& db, const std::string& where,
                                    std::optional<std::int64_t> bound = std::nullopt) {
  SQLite::Statement q(db, std::string("SELECT ") + kModelColumns + " FROM models " + where);
  if (bound) q.bind(1, *bound);
  if (!q.executeStep()) return std::nullopt;
  return read_model(q);
}

std::vector<ModelInfo> list_models(SQLite::Database& db) {
  SQLite::Statement q(
      db, std::string("SELECT ") + kInfoColumns + " FROM models ORDER BY model_id DESC");
  return read_infos(q);
}

class SqliteModels final : public ModelRepository {
 public:
  explicit SqliteModels(SQLite::Database& db) : db_(db) {}

  SavedModel save(std::int64_t run_id, const StoredModel& model, const std::string& metrics_json,
                  int keep, const std::vector<std::int64_t>& served) override {
    return translate_errors(db_, [&] {
      SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
      SavedModel saved = insert_model(db_, run_id, model, metrics_json, keep, served);
      tx.commit();
      return saved;
    });
  }

  std::vector<ModelInfo> prune(int keep, const std::vector<std::int64_t>& served) override {
    return translate_errors(db_, [&] {
      SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
      std::vector<ModelInfo> removed = prune_models(db_, keep, served);
      tx.commit();
      return removed;
    });
  }

  StoredModel latest() override {
    return translate_errors(db_, [&] {
      auto m = read_one(db_, "ORDER BY model_id DESC LIMIT 1");
      if (!m) {
        throw NotFoundError(db_.getFilename() + ": no trained model (run 'pipeline train' first)");
      }
      return std::move(*m);
    });
  }

  StoredModel get(std::int64_t model_id) override {
    return translate_errors(db_, [&] {
      auto m = read_one(db_, "WHERE model_id = ?", model_id);
      if (m) return std::move(*m);
      std::string kept;
      for (const ModelInfo& info : list_models(db_)) {
        kept += (kept.empty() ? "" : ", ") + std::to_string(info.model_id);
      }
      throw NotFoundError(db_.getFilename() + ": model " + std::to_string(model_id) +
                          " is not kept (kept: " + (kept.empty() ? "none" : kept) + ")");
    });
  }

  std::optional<StoredModel> published() override {
    return translate_errors(
        db_, [&] { return read_one(db_, "WHERE model_id = (SELECT model_id FROM publication)"); });
  }

  std::vector<ModelInfo> list() override {
    return translate_errors(db_, [&] { return list_models(db_); });
  }

 private:
  SQLite::Database& db_;
};

}  // namespace

std::unique_ptr<ModelRepository> sqlite_models(SQLite::Database& db) {
  return std::make_unique<SqliteModels>(db);
}

}  // namespace recs::db
