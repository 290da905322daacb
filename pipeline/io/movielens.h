// Reading MovieLens-format files (ratings.csv, movies.csv) with the input
// rules of DESIGN.md: every malformed row is an InputError "file:line: reason",
// or, with import.skip_bad_rows, skipped and counted.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "config/config.h"

namespace recs {

struct RatingRow {
  std::int64_t user;
  std::int64_t movie;
  std::int64_t timestamp;
  double rating;  // raw, as in the file
};

struct MovieRow {
  std::int64_t movie;
  std::string title;
  std::string genres;
};

struct BadRows {
  std::int64_t count = 0;
  std::vector<std::string> first;  // the first few messages, for the log
  void add(std::string message);
};

inline bool key_less(const RatingRow& a, const RatingRow& b) {
  return a.user < b.user || (a.user == b.user && a.movie < b.movie);
}

// Parses a ratings file on a background thread, handing out chunks in file
// order while the rest is parsed, so the database writer overlaps the parse.
// Checks ids, numbers, the rating scale and the rating map; when
// `known_movies` is non-null a rating of a movie outside it is a bad row.
// MovieLens exports are sorted by (user, movie); while the file is, chunks
// arrive marked sorted and a repeated pair is reported at once. An unsorted
// file is handled by sorted_rows() once parsing has finished.
class RatingsReader {
 public:
  struct Chunk {
    std::vector<RatingRow> rows;
    bool sorted;  // this chunk and every earlier one are in strictly increasing key order
    // Where the chunk ends in the file, and the file's size: how much of it
    // the chunks so far hold (e.g. to size a copy of every row).
    std::size_t end_byte = 0;
    std::size_t file_bytes = 0;
  };

  RatingsReader(std::filesystem::path path, const ImportConfig& config,
                const std::unordered_set<std::int64_t>* known_movies);
  ~RatingsReader();
  RatingsReader(const RatingsReader&) = delete;
  RatingsReader& operator=(const RatingsReader&) = delete;

  // The next chunk, or nullptr after the last. Rethrows the parser's error.
  // Chunks stay valid for the reader's lifetime.
  const Chunk* next();

  // Frees the rows of every chunk next() has returned (a streaming writer
  // that is done with them); sorted_rows() is unavailable afterwards.
  void release_consumed();
  // Whether release_consumed() freed any rows: for_each_sorted() then needs
  // a new reader.
  bool rows_released() const { return released_; }

  // Every row in key order (the chunks next() already returned included),
  // each chunk sorted as it arrives and the chunks merged, on another thread
  // than `visit`'s, once the parse has finished: memory for the parsed rows only (no
  // second copy, no sort buffer of the file's size). A repeated pair is an
  // input error naming both lines, or with skip_bad_rows a bad row after the
  // first occurrence in the file. An exception from `visit` stops it.
  void for_each_sorted(const std::function<void(const RatingRow&)>& visit);

  // The same rows as one vector.
  std::vector<RatingRow> sorted_rows();

  // Valid once next() has returned nullptr.
  const BadRows& bad() const { return bad_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  void parse();
  [[noreturn]] void duplicate_error(const RatingRow& dup) const;
  // The lines of every occurrence of each (user, movie) of `keys` in the
  // file, in file order: one more pass, made only when there are duplicates.
  std::map<std::pair<std::int64_t, std::int64_t>, std::vector<std::int64_t>> lines_of(
      const std::vector<RatingRow>& keys) const;

  std::filesystem::path path_;
  const ImportConfig& config_;
  const std::unordered_set<std::int64_t>* known_movies_;
  BadRows bad_;
  std::vector<std::unique_ptr<Chunk>> chunks_;
  std::size_t published_ = 0;  // chunks visible to next()
  std::size_t consumed_ = 0;
  bool released_ = false;
  bool done_ = false;
  std::atomic<bool> cancelled_{false};
  std::exception_ptr error_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::condition_variable space_;  // the parser waits here when far ahead
  std::thread thread_;
};

// Reads the whole file: rows sorted by key, no duplicates.
struct RatingsFile {
  std::vector<RatingRow> rows;
  BadRows bad;
};
RatingsFile read_ratings(const std::filesystem::path& path, const ImportConfig& config,
                         const std::unordered_set<std::int64_t>* known_movies);

struct MoviesFile {
  std::vector<MovieRow> rows;  // sorted by movie id, no duplicates
  BadRows bad;
};

MoviesFile read_movies(const std::filesystem::path& path, const ImportConfig& config);

// Applies import.rating_map to a raw rating; throws InputError naming `where`
// when the map is non-empty and has no entry for it.
double map_rating(const ImportConfig& config, double raw, const std::string& where);

}  // namespace recs
