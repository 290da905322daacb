// The typed configuration tree. Every key has a default, a documented range
// and a doc string (see config.cpp's field table, and each model type's keys
// in models/<type>.cpp); unknown keys, wrong types and out-of-range values
// are ConfigErrors naming the key and its line.
// Precedence: defaults < file < --set overrides. Within the file, and within
// the overrides, a flat model key (model.l2) wins over the chosen type's
// section (model.als.l2).
#pragma once

#include <any>
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace recs {

struct ImportConfig {
  std::filesystem::path ratings;        // userId,movieId,rating,timestamp
  std::filesystem::path movies;         // movieId,title,genres; empty = none
  std::map<double, double> rating_map;  // raw rating -> trained value; empty = identity
  double rating_min = 0.5;              // the scale raw ratings must lie in
  double rating_max = 5.0;
  bool skip_bad_rows = false;  // skip and count malformed rows instead of failing
  // The largest share of the stored ratings one import may delete: a
  // truncated or wrong export is refused, the database unchanged. 1 = none.
  double max_removed_share = 0.2;
};

// model: the common keys, and each model type's own section. A type's keys
// (model.<type>.<key>, e.g. model.als.l2) live in the typed parameter struct
// its registry entry declares (models/<type>.cpp), held here type-erased so
// this header does not depend on the model types; models/registry.h gives
// typed access. The flat form (model.l2) sets the chosen type's key of that
// name. Only type and seed are common: every other key's meaning and default
// differ between types.
struct ModelConfig {
  std::string type = "dot";
  std::uint64_t seed = 42;  // initialisation, shuffling and the default splits
  // Parameters by type name, for every registered type after load_config;
  // a type missing here takes its defaults.
  std::map<std::string, std::any> params;
};

struct TrainConfig {
  double validation_fraction = 0.1;
  // Seed of the validation split; -1 = model.seed. Set it to keep one
  // validation set while model.seed varies the initialisation.
  std::int64_t split_seed = -1;
  int threads = 0;  // 0 = all cores
  // In `pipeline run` with evaluate.in_run: start the published model from
  // the evaluated model's vectors (types that can, e.g. als).
  bool warm_start = true;
  // Rating models: after early stopping picked the epoch count on the
  // validation share, train the published model again on every rating for
  // that many epochs.
  bool refit = true;
};

struct EvaluateConfig {
  // Also evaluate inside `pipeline run` (before training the published model
  // on all ratings).
  bool in_run = false;
  std::string split = "random";     // random (per-user share) or latest (by timestamp)
  double holdout_fraction = 0.2;    // share of each user's ratings held out
  std::vector<int> k = {10, 20};    // cut-offs for the ranking metrics
  double relevant_threshold = 4.0;  // a held-out raw rating >= this is relevant
  // Ranking metrics on a seeded sample of this many of the users with a
  // relevant held-out rating, when there are more; 0 = every such user.
  int sample_users = 20000;
};

// The quality gate `pipeline run` applies when it evaluates (evaluate.in_run):
// the new model must rank at least as well as the popularity baseline and
// not worse than the last published run by more than max_drop (NDCG at the
// first evaluate.k), else nothing is published.
struct GateConfig {
  bool enabled = true;
  double max_drop = 0.02;
};

struct ScoreConfig {
  int top_n = 100;
  bool exclude_rated = true;
  int threads = 0;  // 0 = all cores
  int user_block = 256;
  int movie_block = 1024;
  // exact: every user against every candidate movie; ann: candidates from an
  // approximate index over movie vectors, re-scored exactly.
  std::string method = "exact";
  int ann_nprobe = 0;        // movie clusters probed per user; 0 = calibrated to ann_recall
  double ann_recall = 0.95;  // ann: recall@top_n against exact scoring the calibration keeps
  int ann_clusters = 0;      // movie clusters in the index; 0 = automatic
  // Business filters, applied to the candidates before selection.
  std::vector<std::int64_t> exclude_movies;
  std::vector<std::string> exclude_genres;  // a movie with any of these genres is excluded
  std::vector<std::int64_t> allow_movies;   // non-empty: only these movies are candidates
  // Users rated after the model was trained get vectors solved against the
  // fixed movie vectors (least squares) and are scored too.
  bool fold_in = true;
  double fold_in_l2 = 0.1;  // ridge penalty of the fold-in for rating models (models/registry.h)
  // Each recommendation carries the rated movie that most supports it
  // (recommendations.because_movie_id); false leaves it NULL.
  bool explain = true;
};

// "Because you watched X": top-K movies by cosine similarity of movie vectors.
struct SimilarConfig {
  bool enabled = true;
  int top_k = 20;
};

// k-means over user vectors and over movie vectors.
struct ClustersConfig {
  bool enabled = true;
  int users = 20;   // clusters of users (k)
  int movies = 20;  // clusters of movies (k)
  int iterations = 25;
  int popular_n = 100;  // most-rated movies kept per user cluster
};

// What the database keeps for going back: trained models and published sets.
struct KeepConfig {
  // Models kept: the newest `models`, plus any a kept or the live set came from.
  int models = 3;
  // Published sets kept, the live one included: 2 = the live set and the one
  // it replaced (`pipeline rollback` swaps them); more keep older ones for
  // `pipeline rollback --run`; 1 = no rollback (a publish deletes the old set).
  int sets = 2;
};

// Where the web app reads the published set: the SQLite database (the
// default) or a PostgreSQL server.
struct ServeConfig {
  // libpq connection string; non-empty: publish into that server (see
  // db/postgres.h). Passwords belong in the libpq environment or .pgpass;
  // one given here is shown and recorded as "***".
  std::string postgres;
  // Role granted SELECT on what the web app reads (the recs schema's views);
  // empty: no grants.
  std::string reader_role;
};

struct Config {
  std::filesystem::path file;  // the config file, empty when none was given
  std::filesystem::path database;
  ImportConfig import;
  ModelConfig model;
  TrainConfig train;
  EvaluateConfig evaluate;
  GateConfig gate;
  ScoreConfig score;
  SimilarConfig similar;
  ClustersConfig clusters;
  KeepConfig keep;
  ServeConfig serve;

  // Where each explicitly set key came from ("file.yaml:12" or "--set"), for
  // error messages raised after loading.
  std::map<std::string, std::string> origin;

  // "file:line: key" when the key was set, else "key (default)".
  std::string where(const std::string& key) const;
  bool is_set(const std::string& key) const { return origin.count(key) != 0; }
};

// Loads `file` (may be empty for pure defaults) and applies `overrides`
// ("key.path=value"). Throws ConfigError.
Config load_config(const std::filesystem::path& file, const std::vector<std::string>& overrides);

// Checks that the files a stage reads exist (import.ratings, import.movies)
// and that the database path is usable. Throws ConfigError naming the key.
void check_import_inputs(const Config& config);
void check_database_path(const Config& config);

// The effective configuration as YAML, every key with its doc comment.
std::string describe_config(const Config& config, bool with_docs);

}  // namespace recs
