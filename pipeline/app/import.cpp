#include "app/import.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "db/catalog.h"
#include "db/import.h"
#include "db/ratings.h"
#include "db/sqlite.h"
#include "io/csv.h"
#include "io/movielens.h"
#include "scoring/filters.h"
#include "util/error.h"
#include "util/log.h"
#include "util/memory.h"
#include "util/progress.h"

namespace recs {
namespace {

void log_bad_rows(const BadRows& bad, const std::string& what) {
  if (bad.count == 0) return;
  for (const auto& m : bad.first) log::warn("skipped: " + m);
  log::warn(what + ": skipped " + std::to_string(bad.count) + " bad rows (import.skip_bad_rows)");
}

// Number and sum of ratings per movie. Movie ids are usually small enough to
// index a vector, which is far cheaper per row than a node-based hash map;
// huge ids fall back to the map.
class MovieTally {
 public:
  void add(std::int64_t movie, double rating) {
    if (movie < kDenseLimit) {
      if (static_cast<std::size_t>(movie) >= dense_.size()) {
        dense_.resize(
            std::max<std::size_t>(static_cast<std::size_t>(movie) + 1, dense_.size() * 2));
      }
      auto& t = dense_[static_cast<std::size_t>(movie)];
      ++t.first;
      t.second += rating;
    } else {
      auto& t = sparse_[movie];
      ++t.first;
      t.second += rating;
    }
  }
  // (movie, (count, sum)) for every movie with a rating.
  std::vector<std::pair<std::int64_t, std::pair<std::int64_t, double>>> entries() const {
    std::vector<std::pair<std::int64_t, std::pair<std::int64_t, double>>> out(sparse_.begin(),
                                                                              sparse_.end());
    for (std::size_t m = 0; m < dense_.size(); ++m) {
      if (dense_[m].first) out.emplace_back(static_cast<std::int64_t>(m), dense_[m]);
    }
    return out;
  }

 private:
  static constexpr std::int64_t kDenseLimit = 1 << 24;
  std::vector<std::pair<std::int64_t, double>> dense_;
  std::unordered_map<std::int64_t, std::pair<std::int64_t, double>> sparse_;
};

// Makes the ratings table equal to the rows pushed (in strictly increasing
// key order) by merging them against the stored rows: only what changed is
// written, so a nightly re-import of the same export writes almost nothing,
// and a first import is a plain append in key order.
class RatingsSync {
 public:
  RatingsSync(db::ImportWriter& out, const db::StoredRatings& old, ImportSummary& s,
              ImportedRows* keep)
      : out_(out), old_(old), s_(s), keep_(keep) {}

  void push(const RatingRow& r) {
    if (keep_) keep_row(r);
    while (j_ < old_.size() && old_before(j_, r)) remove(j_++);
    if (j_ < old_.size() && old_.user_id(j_) == r.user && old_.movie[j_] == r.movie) {
      if (r.rating != old_.rating[j_] || r.timestamp != old_.rated_at[j_]) {
        out_.update_rating(r.user, r.movie, r.rating, r.timestamp);
        ++s_.updated;
      }
      ++j_;
    } else {
      out_.insert_rating(r.user, r.movie, r.rating, r.timestamp);
      ++s_.inserted;
    }
    tally_.add(r.movie, r.rating);
    ++s_.ratings;
    s_.users += r.user != last_user_;
    last_user_ = r.user;
  }

  void finish() {
    while (j_ < old_.size()) remove(j_++);
  }

  const MovieTally& tally() const { return tally_; }

  // Makes room for the next `chunk` of kept rows: the whole file's worth,
  // estimated from the share of it read so far, so that tens of millions of
  // rows are not copied again and again as the columns grow.
  void reserve_for(const RatingsReader::Chunk& chunk) {
    if (!keep_) return;
    db::StoredRatings& k = keep_->rows;
    const std::size_t need = k.user.size() + chunk.rows.size();
    if (need <= k.user.capacity()) return;
    std::size_t n = need;
    if (chunk.end_byte > 0 && chunk.file_bytes >= chunk.end_byte) {
      const double rows_per_byte = static_cast<double>(need) / static_cast<double>(chunk.end_byte);
      n = std::max(n, static_cast<std::size_t>(rows_per_byte * 1.02 *
                                               static_cast<double>(chunk.file_bytes)));
    }
    reserve_huge(k.user, n);
    reserve_huge(k.movie, n);
    reserve_huge(k.rating, n);
    if (keep_->rated_at) reserve_huge(k.rated_at, n);
  }

 private:
  void keep_row(const RatingRow& r) {
    db::StoredRatings& k = keep_->rows;
    if (k.user_ids.empty() || k.user_ids.back() != r.user) k.user_ids.push_back(r.user);
    k.user.push_back(static_cast<std::int32_t>(k.user_ids.size() - 1));
    k.movie.push_back(r.movie);
    k.rating.push_back(r.rating);
    if (keep_->rated_at) k.rated_at.push_back(r.timestamp);
  }

  // Whether stored row j comes before r in key order.
  bool old_before(std::size_t j, const RatingRow& r) const {
    const std::int64_t u = old_.user_id(j);
    return u < r.user || (u == r.user && old_.movie[j] < r.movie);
  }
  void remove(std::size_t j) {
    out_.delete_rating(old_.user_id(j), old_.movie[j]);
    ++s_.deleted;
  }

  db::ImportWriter& out_;
  const db::StoredRatings& old_;
  ImportSummary& s_;
  ImportedRows* keep_;
  std::size_t j_ = 0;
  std::int64_t last_user_ = 0;
  MovieTally tally_;
};

// Popularity per movie for the fallback query: count, mean, and a rank by
// count (ties by smaller id).
void rebuild_movie_stats(db::ImportWriter& out, const RatingsSync& sync, ImportSummary& s) {
  auto sorted = sync.tally().entries();
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.second.first != b.second.first ? a.second.first > b.second.first : a.first < b.first;
  });
  std::vector<db::MovieStat> stats;
  stats.reserve(sorted.size());
  std::int64_t rank = 0;
  for (const auto& [movie, st] : sorted) {
    stats.push_back({movie, st.first, st.second / static_cast<double>(st.first), ++rank});
  }
  out.replace_movie_stats(stats);
  s.rated_movies = static_cast<std::int64_t>(sorted.size());
}

// The users and movies the import removed are out of the published sets
// already (the live one and the kept ones): says so, when any held them.
void log_removed_from_served(const db::ServedRemoval& r, db::RunRecord& run) {
  run.count("users_removed", r.users);
  run.count("movies_removed", r.movies);
  run.count("served_rows_removed", r.rows);
  run.count("because_cleared", r.because_cleared);
  if (r.because_cleared > 0) {
    log::info(
        "{} published row(s) (live and kept sets) no longer say \"because you rated\" a "
        "movie whose rating the import deleted (because_movie_id is NULL)",
        r.because_cleared);
  }
  if (r.users == 0 && r.movies == 0) return;
  std::string what;
  if (r.users) what = std::to_string(r.users) + " user(s) (no rating left)";
  if (r.movies) {
    what += std::string(what.empty() ? "" : " and ") + std::to_string(r.movies) +
            " movie(s) (neither in the catalog nor rated)";
  }
  if (r.sets == 0) {
    log::info("the import removed " + what + "; no published set listed them");
  } else {
    log::info("the import removed " + what + ": took them out of " + std::to_string(r.sets) +
              " published set(s) (the live one and the kept ones), " + std::to_string(r.rows) +
              " recommendation rows, the lists renumbered");
  }
}

// A movie first known in this import has not been through the business
// filters, which run at publish: those the configured filters keep out join
// the live set's excluded_movies now, so the fallback for users without
// rows does not show them before the next publish. Returns how many.
std::int64_t exclude_new_movies(const Config& config, db::ImportWriter& out, SQLite::Database& db) {
  const MovieFilters filters = business_filters(config.score);
  if (filters.allow_movies.empty() && filters.exclude_movies.empty() &&
      filters.exclude_genres.empty()) {
    return 0;
  }
  if (db.execAndGet("SELECT EXISTS (SELECT 1 FROM publication)").getInt() == 0) return 0;
  const std::vector<std::int64_t> fresh = out.new_movies();
  if (fresh.empty()) return 0;
  std::vector<MovieGenres> catalog;
  if (!filters.exclude_genres.empty()) catalog = db::sqlite_catalog(db)->movie_genres();
  const std::vector<std::int64_t> excluded = excluded_movies(fresh, filters, catalog);
  if (excluded.empty()) return 0;
  out.exclude_from_fallback(excluded);
  log::info(
      "{} of the {} movie(s) new in this import are kept out of the fallback by the business "
      "filters (score.allow_movies, exclude_movies, exclude_genres) until the next publish",
      excluded.size(), fresh.size());
  return static_cast<std::int64_t>(excluded.size());
}

}  // namespace

void warn_unterminated(const std::filesystem::path& file) {
  if (ends_with_line_break(file)) return;
  log::warn(
      "{}: does not end with a line break, so its last row may have been cut short (a shortened "
      "number or genre list still parses); that row is read as it is: compare it with the export's "
      "source",
      file.string());
}

std::string catalog_changes(const db::CatalogChanges& c) {
  if (c.before == 0 || c.added + c.changed + c.removed == 0) return {};
  return fmt::format(" ({} added, {} with a new title or genres, {} removed)", c.added, c.changed,
                     c.removed);
}

void refuse_mass_removal(const Config& config, std::int64_t stored, std::int64_t deleted) {
  const double share = config.import.max_removed_share;
  if (stored == 0 || static_cast<double>(deleted) <= share * static_cast<double>(stored)) return;
  throw InputError(fmt::format(
      "{}: this export would delete {} of the {} stored ratings ({:.1f} %), more than "
      "import.max_removed_share ({}) allows: is it cut short or the wrong file? Nothing was "
      "imported; the ratings and the published recommendations stay as they were. If the "
      "removal is meant, import it once with --set import.max_removed_share=1",
      config.import.ratings.string(), deleted, stored,
      100.0 * static_cast<double>(deleted) / static_cast<double>(stored), share));
}

ImportSummary run_import(SQLite::Database& db, const Config& config, db::RunRecord& run,
                         ImportedRows* keep) {
  log::Stopwatch total;
  warn_unterminated(config.import.ratings);
  if (!config.import.movies.empty()) warn_unterminated(config.import.movies);
  std::optional<MoviesFile> movies;
  std::unordered_set<std::int64_t> movie_ids;
  if (!config.import.movies.empty()) {
    movies = read_movies(config.import.movies, config.import);
    log_bad_rows(movies->bad, config.import.movies.string());
    movie_ids.reserve(movies->rows.size() * 2);
    for (const auto& m : movies->rows) movie_ids.insert(m.movie);
  }

  // The file is parsed on another thread while this one writes: a first
  // pass streams rows straight into the table as long as the file is in key
  // order (MovieLens exports are); an unsorted file rolls that pass back and
  // is written from the sorted rows (parsed again only if the pass had
  // already written some). Streamed chunks are freed as soon as they are
  // written.
  std::optional<RatingsReader> reader;
  reader.emplace(config.import.ratings, config.import, movies ? &movie_ids : nullptr);
  ImportSummary s;
  // The stored rows are read before the write transaction, in parallel,
  // and read again inside it only if another connection committed.
  const auto ratings = db::sqlite_ratings(db);
  db::StoredRatingsAhead stored(*ratings);
  for (int pass = 0; pass < 2; ++pass) {
    s = ImportSummary{};
    const auto out = db::sqlite_import(db);  // rolls back unless committed
    const db::StoredRatings& old = stored.current();
    if (movies) {
      out->clear_movies();
      for (const auto& m : movies->rows) out->add_movie(m.movie, m.title, m.genres);
      s.catalog = out->catalog_changes();
    }
    if (keep) {
      keep->kept = false;
      keep->rows = db::StoredRatings{};
    }
    RatingsSync sync(*out, old, s, pass == 0 ? keep : nullptr);
    if (pass == 0) {
      bool sorted = true;
      Progress progress("import", 0, "ratings");
      while (const auto* chunk = reader->next()) {
        if (!chunk->sorted) {
          sorted = false;
          break;
        }
        sync.reserve_for(*chunk);
        for (const auto& r : chunk->rows) sync.push(r);
        progress.add(static_cast<std::int64_t>(chunk->rows.size()));
        reader->release_consumed();
      }
      if (!sorted) {
        log::info(config.import.ratings.string() +
                  " is not sorted by userId, movieId; sorting it in memory");
        if (keep) keep->rows = db::StoredRatings{};
        continue;  // the transaction rolls back
      }
    } else {
      // The first pass stopped at the first chunk out of order: when it had
      // written (and freed) none, the parse goes on where it is.
      if (reader->rows_released()) {
        reader.reset();
        reader.emplace(config.import.ratings, config.import, movies ? &movie_ids : nullptr);
      }
      reader->for_each_sorted([&](const RatingRow& r) { sync.push(r); });
    }
    if (s.ratings == 0) {
      throw InputError(config.import.ratings.string() + ": no ratings to import");
    }
    sync.finish();
    refuse_mass_removal(config, s.ratings - s.inserted + s.deleted, s.deleted);
    rebuild_movie_stats(*out, sync, s);
    s.fallback_excluded = exclude_new_movies(config, *out, db);
    s.removed = out->remove_from_served();
    out->commit();
    if (keep && pass == 0) keep->kept = true;
    break;
  }
  log_bad_rows(reader->bad(), config.import.ratings.string());
  s.bad_rows = reader->bad().count + (movies ? movies->bad.count : 0);
  s.movies = db::sqlite_catalog(db)->movie_count();
  log::info("imported " + std::to_string(s.ratings) + " ratings from " + std::to_string(s.users) +
            " users on " + std::to_string(s.rated_movies) + " movies (" +
            std::to_string(s.inserted) + " inserted, " + std::to_string(s.updated) + " updated, " +
            std::to_string(s.deleted) + " deleted); " + std::to_string(s.movies) +
            " movies in the catalog" + catalog_changes(s.catalog) + "; " +
            std::to_string(total.seconds()) + " s");

  run.count("ratings", s.ratings);
  run.count("users", s.users);
  run.count("rated_movies", s.rated_movies);
  run.count("movies", s.movies);
  run.count("ratings_inserted", s.inserted);
  run.count("ratings_updated", s.updated);
  run.count("ratings_deleted", s.deleted);
  run.count("bad_rows", s.bad_rows);
  if (movies) {
    run.count("movies_added", s.catalog.added);
    run.count("movies_changed", s.catalog.changed);
    run.count("movies_removed_from_catalog", s.catalog.removed);
  }
  if (s.fallback_excluded > 0) run.count("movies_excluded_from_fallback", s.fallback_excluded);
  log_removed_from_served(s.removed, run);
  run.timing("import", total.seconds());
  return s;
}

}  // namespace recs
