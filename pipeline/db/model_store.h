// Storing trained models in the database (id mappings and vectors), so score
// and predict run without retraining.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

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

// Inserts the model and keeps only the newest `keep` models (plus the one the
// live recommendations came from). Returns the new model_id. Call inside the
// caller's transaction or alone.
std::int64_t save_model(SQLite::Database& db, std::int64_t run_id, const StoredModel& model,
                        const std::string& metrics_json, int keep = 3);

// The newest model; throws DatabaseError when there is none.
StoredModel load_latest_model(SQLite::Database& db);

}  // namespace recs::db
