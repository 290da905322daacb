#include "app/dry_run.h"

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <unordered_set>

#include "app/import.h"
#include "db/database.h"
#include "db/schema.h"
#include "io/movielens.h"
#include "util/error.h"
#include "util/json.h"
#include "util/log.h"

namespace recs {
namespace {

namespace fs = std::filesystem;

// What a check did not reach (an earlier one failed) stays unset: null in
// the JSON, never a guess.
struct Findings {
  std::optional<bool> database_exists;
  std::optional<int> schema_version;
  std::optional<int> migrations_pending;
  std::int64_t ratings = -1, users = -1, movies = -1, bad_rows = 0;
  std::int64_t ratings_deleted = -1;  // stored ratings the export lacks
};

// The database `run` would open: an existing one must open and carry a schema
// this pipeline can migrate; a missing one must be creatable.
void check_database(const Config& config, Findings& f) {
  const int latest = db::migrations().empty() ? 0 : db::migrations().back().version;
  std::error_code ec;
  f.database_exists = fs::exists(config.database, ec);
  if (!*f.database_exists) {
    const fs::path folder =
        config.database.parent_path().empty() ? fs::path(".") : config.database.parent_path();
    if (::access(folder.c_str(), W_OK) != 0) {
      throw DatabaseError(config.database.string() +
                          ": cannot create the database: the folder is not writable");
    }
    f.schema_version = 0;
    f.migrations_pending = static_cast<int>(db::migrations().size());
    log::info("database {} does not exist yet; the run would create it (schema version {})",
              config.database.string(), latest);
    return;
  }
  if (::access(config.database.c_str(), R_OK | W_OK) != 0) {
    throw DatabaseError(config.database.string() + ": not readable and writable by this user");
  }
  auto database = db::open_for_inspection(config.database);
  try {
    f.schema_version = db::schema_version(*database);
  } catch (const SQLite::Exception& e) {
    throw DatabaseError(config.database.string() + ": " + e.what());
  }
  const int version = *f.schema_version;
  if (version > latest) {
    throw DatabaseError(config.database.string() + ": database schema version " +
                        std::to_string(version) + " is newer than this pipeline's " +
                        std::to_string(latest));
  }
  int pending = 0;
  for (const auto& m : db::migrations()) pending += m.version > version;
  f.migrations_pending = pending;
  log::info("database {}: schema version {}, {} migration{} to apply", config.database.string(),
            version, pending, pending == 1 ? "" : "s");
}

// Parses the import files as the import does, keeping nothing.
void check_inputs(const Config& config, Findings& f) {
  check_import_inputs(config);
  warn_unterminated(config.import.ratings);
  if (!config.import.movies.empty()) warn_unterminated(config.import.movies);
  std::unordered_set<std::int64_t> movie_ids;
  const bool with_movies = !config.import.movies.empty();
  if (with_movies) {
    MoviesFile movies = read_movies(config.import.movies, config.import);
    for (const auto& m : movies.rows) movie_ids.insert(m.movie);
    f.movies = static_cast<std::int64_t>(movies.rows.size());
    f.bad_rows += movies.bad.count;
  }
  RatingsFile ratings =
      read_ratings(config.import.ratings, config.import, with_movies ? &movie_ids : nullptr);
  if (ratings.rows.empty()) {
    throw InputError(config.import.ratings.string() + ": no ratings to import");
  }
  f.ratings = static_cast<std::int64_t>(ratings.rows.size());
  f.users = 0;
  std::int64_t last = 0;
  for (const auto& r : ratings.rows) {
    f.users += r.user != last;
    last = r.user;
  }
  f.bad_rows += ratings.bad.count;
  log::info("inputs: {} ratings from {} users{}, {} bad rows skipped", f.ratings, f.users,
            with_movies ? fmt::format(", {} movies", f.movies) : std::string(), f.bad_rows);
  // No stored rating to lose: no database yet, or an empty one (schema 0).
  if (!f.database_exists.value_or(false) || f.schema_version.value_or(0) == 0) return;
  // The stored ratings the export lacks, as the import would delete them:
  // both sides in (user, movie) order, merged.
  std::int64_t stored = 0, deleted = 0;
  try {
    auto database = db::open_for_inspection(config.database);
    SQLite::Statement q(*database,
                        "SELECT user_id, movie_id FROM ratings ORDER BY user_id, movie_id");
    std::size_t i = 0;
    const auto& rows = ratings.rows;
    while (q.executeStep()) {
      const std::int64_t user = q.getColumn(0).getInt64();
      const std::int64_t movie = q.getColumn(1).getInt64();
      ++stored;
      while (i < rows.size() &&
             (rows[i].user < user || (rows[i].user == user && rows[i].movie < movie))) {
        ++i;
      }
      if (i == rows.size() || rows[i].user != user || rows[i].movie != movie) ++deleted;
    }
  } catch (const SQLite::Exception& e) {
    throw DatabaseError(config.database.string() + ": " + e.what());
  }
  f.ratings_deleted = deleted;
  log::info("the import would delete {} of the {} stored ratings", deleted, stored);
  refuse_mass_removal(config, stored, deleted);
}

// What `train` and `score` read before anything else: stored ratings, a
// trained model. Missing, the stage stops with exit 8, and so does this.
void check_stage_inputs(const Config& config, Stage stage, const Findings& f) {
  if (stage != Stage::kTrain && stage != Stage::kScore) return;
  const bool empty = !f.database_exists.value_or(false) || f.schema_version.value_or(0) == 0;
  const bool train = stage == Stage::kTrain;
  bool any = false;
  if (!empty) {
    try {
      auto database = db::open_for_inspection(config.database);
      any = database
                ->execAndGet(train ? "SELECT EXISTS (SELECT 1 FROM ratings)"
                                   : "SELECT EXISTS (SELECT 1 FROM models)")
                .getInt() != 0;
    } catch (const SQLite::Exception& e) {
      throw DatabaseError(config.database.string() + ": " + e.what());
    }
  }
  if (!any) {
    throw NotFoundError(config.database.string() +
                        (train ? ": no ratings (run 'pipeline import' first)"
                               : ": no trained model (run 'pipeline train' first)"));
  }
}

std::string findings_json(std::string_view command, const Findings& f, ExitCode code,
                          std::string_view message) {
  JsonObject out;
  out.add_raw("dry_run", "true").add("command", command);
  out.add_raw("valid", code == ExitCode::kOk ? "true" : "false");
  out.add("exit_code", static_cast<int>(code));
  if (message.empty()) {
    out.add_raw("message", "null");
  } else {
    out.add("message", message);
  }
  if (f.database_exists) {
    out.add_raw("database_exists", *f.database_exists ? "true" : "false");
  } else {
    out.add_raw("database_exists", "null");
  }
  auto optional = [&](std::string_view key, const std::optional<int>& v) {
    if (v) {
      out.add(key, *v);
    } else {
      out.add_raw(key, "null");
    }
  };
  optional("schema_version", f.schema_version);
  optional("migrations_pending", f.migrations_pending);
  auto count = [&](std::string_view key, std::int64_t v) {
    if (v < 0) {
      out.add_raw(key, "null");
    } else {
      out.add(key, v);
    }
  };
  count("ratings", f.ratings);
  count("users", f.users);
  count("movies", f.movies);
  out.add("bad_rows", f.bad_rows);
  count("ratings_deleted", f.ratings_deleted);
  return out.str();
}

}  // namespace

void check_run_config(const Config& config) {
  check_database_path(config);
  check_import_inputs(config);
}

void dry_run(const Config& config, std::optional<Stage> stage, std::ostream* json) {
  const std::string_view command = stage ? stage_name(*stage) : "run";
  log::set_stage(command);
  Findings f;
  try {
    check_database_path(config);
    db::check_run_lock(config.database);
    check_database(config, f);
    if (!stage || *stage == Stage::kImport) check_inputs(config, f);
    if (stage) check_stage_inputs(config, *stage, f);
  } catch (const Error& e) {
    if (json) *json << findings_json(command, f, e.code(), e.what()) << std::endl;
    throw;
  }
  log::info("dry run: {} would start; nothing was written", command);
  if (json) *json << findings_json(command, f, ExitCode::kOk, {}) << std::endl;
}

}  // namespace recs
