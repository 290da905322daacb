// The train stage: fits the configured model on the stored ratings, reports
// validation error, and stores the model (ids and vectors) in the database.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "data/ratings.h"
#include "db/ratings.h"
#include "db/runs.h"
#include "models/model.h"

namespace recs {

// The stored ratings as the models train on them: dense indices, values
// after import.rating_map (db::read_rating_matrix). When given, `raw` and
// `rated_at` receive each entry's stored rating and timestamp. Throws
// DatabaseError when there are none.
RatingMatrix load_ratings(SQLite::Database& db, const Config& config,
                          std::vector<double>* raw = nullptr,
                          std::vector<std::int64_t>* rated_at = nullptr);

// The same from rows the import of this run kept (app/import.h
// ImportedRows), which equal the table: no read. Consumes `rows`.
RatingMatrix imported_ratings(db::StoredRatings&& rows, SQLite::Database& db, const Config& config,
                              std::vector<double>* raw = nullptr,
                              std::vector<std::int64_t>* rated_at = nullptr);

// import.rating_map as the ratings readers apply it.
db::ValueMap rating_value_map(const Config& config);

// The ratings of the users `range` names (db::RatingsRequest::first_user,
// last_user); none is an error only when `require` is set.
RatingMatrix load_ratings(SQLite::Database& db, const Config& config,
                          const db::RatingsRequest& range, std::vector<double>* raw, bool require);

// Each distinct stored rating after import.rating_map, with its count, and
// the number of distinct users (`users`).
std::vector<std::pair<float, std::int64_t>> load_rating_census(SQLite::Database& db,
                                                               const Config& config,
                                                               std::size_t& users);

// The validation split's seed: train.split_seed, or model.seed when that is -1.
std::uint64_t validation_split_seed(const Config& config);

// Splits `ratings` at random (seeded) into training and validation triplets.
void split_ratings(const RatingMatrix& ratings, double validation_fraction, std::uint64_t seed,
                   Triplets& train, Triplets& validation);

struct TrainSummary {
  std::int64_t model_id = 0;
  std::string type;
  TrainReport report;
  std::int64_t train_ratings = 0, validation_ratings = 0;
};

// Fits config.model on the stored ratings (or on `loaded`, the same ratings
// an earlier stage of this run read; with nothing held out their columns are
// lent to the fit instead of copied, and given back unchanged) and stores it. `warm` (optional):
// the vectors to start from (Model::warm_start), e.g. the in-run evaluation's model, fitted on part
// of these ratings; ignored by types that cannot.
TrainSummary run_train(SQLite::Database& db, const Config& config, db::RunRecord& run,
                       RatingMatrix* loaded = nullptr, const Factors* warm = nullptr);

}  // namespace recs
