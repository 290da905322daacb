// libFuzzer target for the CSV reader and the MovieLens ratings/movies parsers.
//
// Every input goes through recs::CsvReader (record by record, every field
// checked with recs::is_valid_utf8, 4-field records parsed the way
// movielens.cpp parses ratings rows) and through expect_header() with both
// MovieLens headers.
//
// With RECS_FUZZ_FILES=1 in the environment, inputs that start with a
// MovieLens header (optionally after a BOM) also run the full file path,
// recs::read_ratings() / recs::read_movies(), through a per-process file in
// /dev/shm. That path starts a thread, maps a file and reserves a 2 MB chunk
// per call, which cuts the rate from tens of thousands to ~1000 exec/s, so it
// is off by default.
//
// recs::InputError is the expected refusal of bad input; anything else that
// escapes (another exception, a crash, a sanitizer report) is a finding.
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "io/csv.h"
#include "io/movielens.h"
#include "util/error.h"

namespace {

constexpr std::string_view kRatingsHeader = "userId,movieId,rating,timestamp";
constexpr std::string_view kMoviesHeader = "movieId,title,genres";
constexpr std::string_view kBom = "\xEF\xBB\xBF";

// The per-field checks of RatingsReader::parse() (which live in an anonymous
// namespace there): ids and timestamp via from_chars<int64>, rating via
// from_chars<double>.
void parse_rating_row(const std::vector<std::string_view>& f) {
  volatile std::int64_t sink = 0;
  for (int i : {0, 1, 3}) {
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(f[i].data(), f[i].data() + f[i].size(), v);
    if (ec == std::errc() && p == f[i].data() + f[i].size()) sink = sink ^ v;
  }
  double r = 0;
  auto [p, ec] = std::from_chars(f[2].data(), f[2].data() + f[2].size(), r);
  if (ec == std::errc() && p == f[2].data() + f[2].size() && std::isfinite(r))
    sink = sink ^ static_cast<std::int64_t>(r > 0);
}

void read_all(std::string_view text) {
  recs::CsvReader csv(text, "fuzz.csv");
  std::vector<std::string_view> fields;
  std::int64_t last_line = 0;
  std::size_t records = 0;
  while (csv.next(fields)) {
    // Every field view must lie inside readable memory (ASan checks this).
    volatile std::size_t sink = 0;
    for (std::string_view f : fields) {
      sink = sink ^ (recs::is_valid_utf8(f) ? 1 : 0);
      if (!f.empty())
        sink =
            sink ^ (static_cast<unsigned char>(f.front()) + static_cast<unsigned char>(f.back()));
    }
    if (fields.size() == 4) parse_rating_row(fields);
    if (fields.empty()) std::abort();           // a record has at least one field
    if (csv.line() <= last_line) std::abort();  // record lines strictly increase
    last_line = csv.line();
    if (++records > text.size() + 1) std::abort();  // no progress
  }
  // Once at the end, next() keeps returning false.
  if (csv.next(fields)) std::abort();
}

void check_header(std::string_view text, std::string_view header) {
  std::vector<std::string_view> expected;
  std::size_t start = 0;
  for (;;) {
    std::size_t comma = header.find(',', start);
    expected.push_back(header.substr(start, comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  try {
    recs::CsvReader csv(text, "fuzz.csv");
    csv.expect_header(expected);
    std::vector<std::string_view> fields;
    while (csv.next(fields)) {
    }
  } catch (const recs::InputError&) {
  }
}

const std::filesystem::path& temp_file() {
  static const std::filesystem::path path = [] {
    std::filesystem::path dir = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    return dir / ("recs_csv_fuzz_" + std::to_string(::getpid()) + ".csv");
  }();
  return path;
}

void remove_temp_file() { std::remove(temp_file().c_str()); }

void write_temp_file(const uint8_t* data, size_t size) {
  static bool registered = (std::atexit(remove_temp_file), true);
  (void)registered;
  FILE* f = std::fopen(temp_file().c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
}

void run_files(const uint8_t* data, size_t size, std::string_view text) {
  std::string_view body = text.substr(0, 3) == kBom ? text.substr(3) : text;
  bool ratings = body.substr(0, kRatingsHeader.size()) == kRatingsHeader;
  bool movies = body.substr(0, kMoviesHeader.size()) == kMoviesHeader;
  if (!ratings && !movies) return;
  write_temp_file(data, size);
  // Two configurations, picked by the input's length so runs are reproducible:
  // strict with the identity map, or skip_bad_rows with the tutorial's map.
  recs::ImportConfig config;
  if (size % 2) {
    config.skip_bad_rows = true;
    config.rating_map = {{0.5, -1}, {1, -1},  {1.5, -1}, {2, -1},  {2.5, -1},
                         {3, 0},    {3.5, 1}, {4, 1},    {4.5, 1}, {5, 1}};
  }
  if (ratings) {
    try {
      recs::RatingsFile out = recs::read_ratings(temp_file(), config, nullptr);
      for (std::size_t i = 1; i < out.rows.size(); ++i) {
        if (!recs::key_less(out.rows[i - 1], out.rows[i])) std::abort();  // sorted, no duplicates
      }
    } catch (const recs::InputError&) {
    }
  } else {
    try {
      recs::MoviesFile out = recs::read_movies(temp_file(), config);
      for (std::size_t i = 1; i < out.rows.size(); ++i) {
        if (out.rows[i - 1].movie >= out.rows[i].movie) std::abort();
      }
    } catch (const recs::InputError&) {
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    read_all(text);
  } catch (const recs::InputError&) {
  }
  check_header(text, kRatingsHeader);
  check_header(text, kMoviesHeader);
  static const bool files = [] {
    const char* e = std::getenv("RECS_FUZZ_FILES");
    return e && *e && std::string_view(e) != "0";
  }();
  if (files) run_files(data, size, text);
  return 0;
}
