#include "app/predict.h"

#include <charconv>
#include <cstdio>

#include "db/model_store.h"
#include "db/sqlite.h"
#include "io/csv.h"
#include "util/error.h"

namespace recs {
namespace {

std::string format_score(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.7g", static_cast<double>(v));
  return buf;
}

float score(const db::StoredModel& m, std::int64_t user, std::int64_t movie,
            const std::string& where) {
  int u = m.user_index(user);
  if (u < 0) {
    throw InputError(where + "user " + std::to_string(user) + " is not in the model (trained on " +
                     std::to_string(m.user_ids.size()) + " users)");
  }
  int v = m.movie_index(movie);
  if (v < 0) {
    throw InputError(where + "movie " + std::to_string(movie) +
                     " is not in the model (trained on " + std::to_string(m.movie_ids.size()) +
                     " rated movies)");
  }
  return m.users.row(u).dot(m.movies.row(v));
}

}  // namespace

void predict_one(SQLite::Database& db, std::int64_t user, std::int64_t movie, std::ostream& out) {
  auto m = db::sqlite_models(db)->latest();
  out << format_score(score(m, user, movie, "")) << "\n";
}

void predict_pairs(SQLite::Database& db, const std::filesystem::path& pairs, std::ostream& out) {
  auto m = db::sqlite_models(db)->latest();
  MappedFile file(pairs);
  CsvReader csv(file.data(), pairs.string());
  csv.expect_header({"userId", "movieId"});
  std::vector<std::string_view> f;
  std::string text = "userId,movieId,score\n";
  while (csv.next(f)) {
    if (f.size() != 2)
      csv.fail("expected 2 fields (userId,movieId), got " + std::to_string(f.size()));
    std::int64_t ids[2];
    for (int i = 0; i < 2; ++i) {
      auto [p, ec] = std::from_chars(f[i].data(), f[i].data() + f[i].size(), ids[i]);
      if (f[i].empty() || ec != std::errc() || p != f[i].data() + f[i].size() || ids[i] <= 0) {
        csv.fail(std::string(i == 0 ? "userId" : "movieId") + " is not a positive integer");
      }
    }
    std::string where = pairs.string() + ":" + std::to_string(csv.line()) + ": ";
    text += std::to_string(ids[0]) + "," + std::to_string(ids[1]) + "," +
            format_score(score(m, ids[0], ids[1], where)) + "\n";
  }
  // Nothing reaches stdout unless every pair was valid.
  out << text;
}

}  // namespace recs
