// pipeline predict: the stored model's score for (user, movie) pairs, the
// tutorial's model.predict([610], [1]).
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>
#include <filesystem>
#include <ostream>

namespace recs {

// Prints one score. Unknown ids are InputErrors.
void predict_one(SQLite::Database& db, std::int64_t user, std::int64_t movie, std::ostream& out);

// Reads a CSV "userId,movieId" and writes "userId,movieId,score" rows.
void predict_pairs(SQLite::Database& db, const std::filesystem::path& pairs, std::ostream& out);

}  // namespace recs
