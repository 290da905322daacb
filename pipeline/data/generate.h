// Synthetic MovieLens-format data (ratings.csv, movies.csv) with a planted
// low-rank structure, so tests and benchmarks can run at any size without the
// real data set and models have something to learn.
#pragma once

#include <cstdint>
#include <filesystem>

namespace recs {

struct GenerateOptions {
  std::int64_t users = 1000;
  std::int64_t movies = 500;
  std::int64_t ratings = 20000;  // exact number of rows written
  std::filesystem::path out;     // folder receiving ratings.csv and movies.csv
  std::uint64_t seed = 42;       // same seed, same options -> byte-identical files
  int rank = 8;                  // dimension of the planted user/movie factors
};

// What was actually written.
struct GenerateSummary {
  std::int64_t users = 0;
  std::int64_t movies = 0;
  std::int64_t ratings = 0;
};

// Writes out/ratings.csv (userId,movieId,rating,timestamp; sorted by user then
// movie; user ids 1..users, every user rated at least once) and out/movies.csv
// (movieId,title,genres; sparse increasing ids). Each file is written under a
// temporary name and renamed into place, so a killed run never leaves a
// truncated file under the final name. Throws UsageError for invalid options
// or an unwritable folder.
GenerateSummary generate(const GenerateOptions& options);

}  // namespace recs
