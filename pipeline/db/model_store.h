// The model repository: trained models (id mappings and vectors) kept in the
// database, so score and predict run without retraining. Backend-neutral;
// db/sqlite.h makes the SQLite one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/matrix.h"

namespace recs::db {

struct StoredModel {
  std::int64_t model_id = 0;
  std::string type;
  std::string created_at;
  std::vector<std::int64_t> user_ids;   // ascending; row i of users is user_ids[i]
  std::vector<std::int64_t> movie_ids;  // ascending; row j of movies is movie_ids[j]
  RowMatrix users;
  RowMatrix movies;

  // Dense index of an external id, or -1.
  int user_index(std::int64_t id) const;
  int movie_index(std::int64_t id) const;
};

// A stored model without its vectors.
struct ModelInfo {
  std::int64_t model_id = 0;
  std::optional<std::int64_t> run_id;  // the run that trained it
  std::string type;
  std::string created_at;
};

struct SavedModel {
  std::int64_t model_id = 0;
  std::vector<ModelInfo> removed;  // models pruned to stay within `keep`
};

class ModelRepository {
 public:
  virtual ~ModelRepository() = default;

  // Stores `model` (its model_id and created_at are assigned here) for run
  // `run_id` with its training metrics (a JSON object), in a write
  // transaction of its own, and keeps only the newest `keep` models plus
  // those the live set and the kept sets (db/publish.h) came from and those
  // in `served` (the models another serving database still names).
  virtual SavedModel save(std::int64_t run_id, const StoredModel& model,
                          const std::string& metrics_json, int keep,
                          const std::vector<std::int64_t>& served) = 0;

  // Removes, in a write transaction of its own, what save() would: every
  // model beyond the newest `keep` that no set and nothing in `served`
  // names (a publish retires the set that kept one). Returns the removed.
  virtual std::vector<ModelInfo> prune(int keep, const std::vector<std::int64_t>& served) = 0;

  // The newest model; throws NotFoundError when there is none.
  virtual StoredModel latest() = 0;

  // Model `model_id`; throws NotFoundError naming the kept ones when it is
  // not kept.
  virtual StoredModel get(std::int64_t model_id) = 0;

  // The model the live set was scored with; empty when nothing is published
  // or the publication names no model.
  virtual std::optional<StoredModel> published() = 0;

  // Every kept model, newest first.
  virtual std::vector<ModelInfo> list() = 0;
};

}  // namespace recs::db
