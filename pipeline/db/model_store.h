// The model repository: trained models (id mappings and vectors) kept in the
// database, so score and predict run without retraining. Backend-neutral;
// db/sqlite.h makes the SQLite one.
#pragma once

#include <cstdint>
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

// Models kept besides the one the live recommendations came from.
constexpr int kModelsKept = 3;

class ModelRepository {
 public:
  virtual ~ModelRepository() = default;

  // Stores `model` (its model_id and created_at are assigned here) for run
  // `run_id` with its training metrics (a JSON object), in a write
  // transaction of its own, and keeps only the newest `keep` models plus
  // the one the live recommendations came from. Returns the new model_id.
  virtual std::int64_t save(std::int64_t run_id, const StoredModel& model,
                            const std::string& metrics_json, int keep) = 0;

  // The newest model; throws DatabaseError when there is none.
  virtual StoredModel latest() = 0;
};

}  // namespace recs::db
