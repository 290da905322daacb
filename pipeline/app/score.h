// The score stage: every user against every movie with the stored model,
// top-N per user, published atomically into `recommendations`.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/shard.h"
#include "config/config.h"
#include "data/clusters.h"
#include "data/ratings.h"
#include "data/top_n.h"
#include "db/model_store.h"
#include "db/publish.h"
#include "db/runs.h"
#include "db/shards.h"
#include "eval/churn.h"

namespace recs {

struct ScoreSummary {
  std::int64_t users = 0;            // scored
  std::int64_t users_published = 0;  // with at least one recommendation
  std::int64_t rows = 0;
  double seconds = 0;
  std::int64_t model_id = 0;
  std::string model_type;
  // Against the set this publication replaced (eval/churn.h); empty when
  // nothing was live or no user is in both sets.
  std::optional<double> churn;
  std::int64_t churn_users = 0;  // users with a list in both sets
  std::int64_t new_users = 0;    // users with a list now and none before
  double coverage = 0;           // movies_covered / candidate_movies
  std::int64_t movies_covered = 0;
  std::int64_t candidate_movies = 0;
};

// The churn and coverage of a publication (eval/churn.h) into its summary,
// and from the summary into the run's record (runs.metrics, runs.counts).
void take_changes(const eval::PublicationChanges& changes, ScoreSummary& s);
void record_changes(const ScoreSummary& s, db::RunRecord& run);

// Scores with model `model_id` (empty: the newest) and publishes in one
// write transaction: the old set is kept for rollback (keep.sets >= 2) or
// deleted, the new one inserted, then committed at once. Readers (WAL) keep
// seeing the old complete set until the commit; a failure or a kill at any
// moment rolls back to it. Kept sets pushed out by keep.sets are logged.
// The stored ratings an earlier stage of the same run already read
// (load_ratings with its raw values), so the score stage need not read them
// again.
// `release` (optional) is called once the stage has copied what it needs
// (the audience), so the caller can free them before scoring and publishing.
struct LoadedRatings {
  const RatingMatrix* ratings = nullptr;
  const std::vector<double>* raw = nullptr;
  std::function<void()> release;
};

ScoreSummary run_score(SQLite::Database& db, const Config& config, db::RunRecord& run,
                       std::optional<std::int64_t> model_id = std::nullopt,
                       const LoadedRatings* loaded = nullptr);

// `model` with those of `wanted` (user ids, any order) that the next score
// would fold in (score.fold_in: users who rated after it was trained) added
// beside the trained ones, solved as score solves them, so predict agrees
// with the rows the web app shows. Only the ratings of users between the
// least and the greatest new id of `wanted` are read, with the census of the
// rest, as a shard folds in.
db::StoredModel with_folded_in_users(SQLite::Database& db, const Config& config,
                                     db::StoredModel model, std::vector<std::int64_t> wanted);

// score.method: ann's plan as the run history records it (app/ann_plan.h).
struct AnnFigures {
  bool used = false;
  int nprobe = 0;
  int clusters = 0;
  std::optional<double> recall;
  std::optional<double> recall_low;
  std::int64_t sample_users = 0;
  double seconds = 0;
  bool shared = false;
};
struct AnnPlan;
void record_ann(const AnnPlan& plan, AnnFigures& out);
// Counts ann_nprobe, ann_clusters, ann_sample_users; metrics ann_recall,
// ann_recall_low; timing ann_plan (where it was computed).
void record_ann(const AnnPlan& plan, db::RunRecord& run);
void record_ann(const AnnFigures& ann, db::RunRecord& run);

struct ShardScoreSummary {
  UserIdSpan span;                   // the shard's user ids
  std::int64_t users = 0;            // scored
  std::int64_t users_published = 0;  // with at least one recommendation
  std::int64_t rows = 0;
  std::int64_t folded_in = 0;
  std::int64_t without_signal = 0;
  std::int64_t model_id = 0;
  std::string model_type;
  double load_seconds = 0;     // the model, the shard's ratings
  double cluster_seconds = 0;  // shared centroids, the shard's users assigned
  double seconds = 0;          // scoring and staging
  AnnFigures ann;              // score.method: ann
};

// Opens the staging of one shard's part for the generation of `model`.
using ShardWriterFactory =
    std::function<std::unique_ptr<db::ShardWriter>(const db::StoredModel& model)>;

// Shard `spec` of the score stage with the newest stored model: reads the
// model and only the ratings of the shard's users (app/shard.h), scores
// them exactly as run_score() scores everyone (fold-in, users without
// signal, filters, explanations), assigns them to the user clusters (the
// centroids of the model's users, the same in every shard) and stages
// their rows and their part of "popular in your cluster" through the
// writer, committed at the end. Movie-side work is left to movie_side().
ShardScoreSummary run_score_shard(SQLite::Database& db, const Config& config, const ShardSpec& spec,
                                  const ShardWriterFactory& open_writer);

// The movie side of a generation, computed once (by its publish): similar
// movies and movie clusters of `model`, as run_score() computes them.
struct MovieSide {
  std::vector<std::int64_t> candidate_ids;  // the similar table's items index these
  TopNBlock similar;
  ClusterRows movie_clusters;
  db::PublicationExtras extras;  // similar_k, user_clusters, movie_clusters when computed;
                                 // excluded_movies
  double similar_seconds = 0;
  double cluster_seconds = 0;
};
MovieSide movie_side(SQLite::Database& db, const Config& config, const db::StoredModel& model);

}  // namespace recs
