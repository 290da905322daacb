#include "app/score.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <numeric>
#include <optional>
#include <string>
#include <unordered_map>

#include "app/rollback.h"
#include "app/train.h"
#include "cluster/kmeans.h"
#include "cluster/popular.h"
#include "db/catalog.h"
#include "db/model_store.h"
#include "db/publish.h"
#include "db/sqlite.h"
#include "eval/churn.h"
#include "models/fold_in.h"
#include "models/registry.h"
#include "models/signal.h"
#include "scoring/ann.h"
#include "scoring/explain.h"
#include "scoring/filters.h"
#include "scoring/similar.h"
#include "scoring/topn.h"
#include "util/error.h"
#include "util/log.h"

namespace recs {
namespace {

// Everyone the score stage serves: the model's users plus those folded in,
// ascending by external id, with the movies each rated (model movie indices,
// ascending) and the stored rating of each.
struct Audience {
  std::vector<std::int64_t> ids;
  RowMatrix users;
  UserItems rated;
  std::vector<float> raw;    // stored rating per rated entry
  std::vector<float> value;  // its mapped (trained-scale) value
  std::int64_t folded_in = 0;
  std::int64_t not_folded = 0;  // new users with nothing to solve from
};

Audience build_audience(SQLite::Database& db, const Config& config, const db::StoredModel& model,
                        const LoadedRatings* loaded) {
  std::vector<double> own_raw;
  RatingMatrix own;
  if (!loaded) own = load_ratings(db, config, &own_raw);
  const RatingMatrix& r = loaded ? *loaded->ratings : own;
  const std::vector<double>& raw = loaded ? *loaded->raw : own_raw;
  // Database movie index -> model movie index (-1: the model has no vector).
  std::vector<std::int32_t> movie_of(r.movie_ids.size());
  for (std::size_t i = 0; i < r.movie_ids.size(); ++i)
    movie_of[i] = model.movie_index(r.movie_ids[i]);
  // Rows of r per database user.
  std::vector<std::int64_t> start(r.user_ids.size() + 1, 0);
  for (std::int32_t u : r.user) ++start[static_cast<std::size_t>(u) + 1];
  std::partial_sum(start.begin(), start.end(), start.begin());

  // New users and their ratings on movies the model knows.
  std::vector<std::size_t> new_users;  // database user indices
  FoldInRatings fold;
  fold.indptr.push_back(0);
  if (config.score.fold_in) {
    for (std::size_t u = 0; u < r.user_ids.size(); ++u) {
      if (model.user_index(r.user_ids[u]) >= 0) continue;
      new_users.push_back(u);
      for (auto k = start[u]; k < start[u + 1]; ++k) {
        const std::int32_t m =
            movie_of[static_cast<std::size_t>(r.movie[static_cast<std::size_t>(k)])];
        if (m < 0) continue;
        fold.movies.push_back(m);
        fold.values.push_back(r.value[static_cast<std::size_t>(k)]);
      }
      fold.indptr.push_back(static_cast<std::int64_t>(fold.movies.size()));
    }
  }
  FoldInInputs inputs;
  inputs.rating_l2 = config.score.fold_in_l2;
  inputs.ratings = &r.value;
  inputs.users = r.user_ids.size();
  inputs.threads = config.score.threads;
  // The stored model's type decides, with that type's parameters.
  const FoldInOptions fo = fold_in_options(config.model, model.type, inputs);
  FoldInResult folded = fold_in(model.users, model.movies, fold, fo);

  // Merge the model's users and the solved new ones by external id.
  struct Source {
    std::int64_t id;
    int model_row;   // >= 0: a trained user
    int folded_row;  // >= 0: a folded-in user
  };
  std::vector<Source> all;
  all.reserve(model.user_ids.size() + new_users.size());
  for (std::size_t i = 0; i < model.user_ids.size(); ++i)
    all.push_back({model.user_ids[i], static_cast<int>(i), -1});
  Audience a;
  for (std::size_t j = 0; j < new_users.size(); ++j) {
    if (!folded.solved[j]) {
      ++a.not_folded;
      continue;
    }
    all.push_back({r.user_ids[new_users[j]], -1, static_cast<int>(j)});
    ++a.folded_in;
  }
  std::sort(all.begin(), all.end(), [](const Source& x, const Source& y) { return x.id < y.id; });

  a.ids.reserve(all.size());
  a.users.resize(static_cast<Eigen::Index>(all.size()), model.users.cols());
  a.rated.indptr.reserve(all.size() + 1);
  a.rated.indptr.push_back(0);
  a.rated.indices.reserve(r.size());
  a.raw.reserve(r.size());
  std::size_t db_user = 0;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const Source& s = all[i];
    a.ids.push_back(s.id);
    if (s.model_row >= 0) {
      a.users.row(static_cast<Eigen::Index>(i)) = model.users.row(s.model_row);
    } else {
      a.users.row(static_cast<Eigen::Index>(i)) = folded.users.row(s.folded_row);
    }
    while (db_user < r.user_ids.size() && r.user_ids[db_user] < s.id) ++db_user;
    if (db_user < r.user_ids.size() && r.user_ids[db_user] == s.id) {
      // Entries are sorted by database movie index, which orders movies by
      // id exactly as the model's indices do.
      for (auto k = start[db_user]; k < start[db_user + 1]; ++k) {
        const std::int32_t m =
            movie_of[static_cast<std::size_t>(r.movie[static_cast<std::size_t>(k)])];
        if (m < 0) continue;
        a.rated.indices.push_back(m);
        a.raw.push_back(static_cast<float>(raw[static_cast<std::size_t>(k)]));
        a.value.push_back(r.value[static_cast<std::size_t>(k)]);
      }
    }
    a.rated.indptr.push_back(static_cast<std::int64_t>(a.rated.indices.size()));
  }
  return a;
}

// Removes the users `keep` rejects (0) from the audience; returns how many.
std::int64_t keep_users(Audience& a, const std::vector<char>& keep) {
  std::int64_t removed = 0;
  Audience out;
  out.rated.indptr.push_back(0);
  std::vector<Eigen::Index> rows;
  for (std::size_t i = 0; i < a.ids.size(); ++i) {
    if (!keep[i]) {
      ++removed;
      continue;
    }
    out.ids.push_back(a.ids[i]);
    rows.push_back(static_cast<Eigen::Index>(i));
    for (auto k = a.rated.indptr[i]; k < a.rated.indptr[i + 1]; ++k) {
      const auto at = static_cast<std::size_t>(k);
      out.rated.indices.push_back(a.rated.indices[at]);
      out.raw.push_back(a.raw[at]);
      out.value.push_back(a.value[at]);
    }
    out.rated.indptr.push_back(static_cast<std::int64_t>(out.rated.indices.size()));
  }
  if (removed == 0) return 0;
  out.users.resize(static_cast<Eigen::Index>(rows.size()), a.users.cols());
  for (std::size_t j = 0; j < rows.size(); ++j)
    out.users.row(static_cast<Eigen::Index>(j)) = a.users.row(rows[j]);
  out.folded_in = a.folded_in;
  out.not_folded = a.not_folded;
  a = std::move(out);
  return removed;
}

// The movies anyone may be recommended (model indices, ascending) after the
// business filters, warning about filtered ids the model does not know.
std::vector<std::int32_t> filter_candidates(SQLite::Database& db, const Config& config,
                                            const db::StoredModel& model) {
  MovieFilters filters;
  filters.allow_movies = config.score.allow_movies;
  filters.exclude_movies = config.score.exclude_movies;
  filters.exclude_genres = config.score.exclude_genres;
  std::vector<MovieGenres> catalog;
  if (!filters.exclude_genres.empty()) catalog = db::sqlite_catalog(db)->movie_genres();
  CandidateMovies c = candidate_movies(model.movie_ids, filters, catalog);
  auto unknown = [&](const char* key, std::int64_t count) {
    if (count > 0) {
      log::warn(config.where(key) + ": " + std::to_string(count) +
                " movie id(s) the model does not know; ignored");
    }
  };
  unknown("score.allow_movies", c.unknown_allowed);
  unknown("score.exclude_movies", c.unknown_excluded);
  return std::move(c.movies);
}

struct Clusters {
  ClusterRows users;
  ClusterRows movies;
  std::vector<ClusterPopularRow> popular;
  int user_k = 0;
  int movie_k = 0;
};

ClusterRows cluster_rows(const RowMatrix& points, const std::vector<std::int64_t>& ids, int k,
                         const Config& config, int& used_k) {
  KMeansOptions o;
  o.k = std::min<int>(k, static_cast<int>(points.rows()));
  o.max_iterations = config.clusters.iterations;
  o.seed = config.model.seed;
  o.threads = config.score.threads;
  used_k = o.k;
  KMeansResult km = kmeans(points, o);
  return {ids, std::move(km.assignment), std::move(km.distance)};
}

Clusters make_clusters(const Audience& a, const db::StoredModel& model,
                       const std::vector<int>& taste, const std::vector<std::int32_t>& candidates,
                       const Config& config) {
  Clusters c;
  c.users = cluster_rows(unit_rows(a.users, taste), a.ids, config.clusters.users, config, c.user_k);
  c.movies = cluster_rows(unit_rows(model.movies, taste), model.movie_ids, config.clusters.movies,
                          config, c.movie_k);
  c.popular = popular_in_clusters(c.users.cluster, c.user_k, a.rated, a.raw, candidates,
                                  model.movie_ids, config.clusters.popular_n);
  return c;
}

}  // namespace

ScoreSummary run_score(SQLite::Database& db, const Config& config, db::RunRecord& run,
                       std::optional<std::int64_t> model_id, const LoadedRatings* loaded) {
  log::Stopwatch total;
  db::StoredModel model =
      model_id ? db::sqlite_models(db)->get(*model_id) : db::sqlite_models(db)->latest();
  if (!model.users.allFinite() || !model.movies.allFinite()) {
    throw GateError("model " + std::to_string(model.model_id) +
                    " has non-finite vectors; refusing to publish");
  }
  Audience audience = build_audience(db, config, model, loaded);
  // Users whose vectors carry no signal get no rows (the web app serves them
  // sql/fallback.sql): those without a positive now, those whose best score
  // is below the type's floor while the lists are published.
  const SignalRule signal = signal_rule(config.model, model.type);
  const std::int64_t no_positive =
      keep_users(audience, users_with_positive(signal, audience.rated.indptr, audience.value));
  if (audience.folded_in + audience.not_folded > 0) {
    log::info("folded in " + std::to_string(audience.folded_in) +
              " user(s) who rated after training" +
              (audience.not_folded ? "; " + std::to_string(audience.not_folded) +
                                         " more have no usable rating and get the fallback"
                                   : std::string()));
  }
  std::vector<std::int32_t> candidates = filter_candidates(db, config, model);
  if (candidates.empty() && !model.movie_ids.empty()) {
    // Publishing would empty every user's list; keep the live set instead.
    throw ConfigError(
        config.where(config.score.allow_movies.empty() ? "score.exclude_movies"
                                                       : "score.allow_movies") +
        ": the business filters leave no movie of the model to recommend; nothing published");
  }
  const bool filtered = candidates.size() != model.movie_ids.size();
  std::vector<std::int64_t> candidate_ids;
  candidate_ids.reserve(candidates.size());
  for (std::int32_t m : candidates)
    candidate_ids.push_back(model.movie_ids[static_cast<std::size_t>(m)]);
  RowMatrix candidate_vectors;
  UserItems candidate_rated;
  if (filtered) {
    log::info("business filters leave " + std::to_string(candidates.size()) + " of " +
              std::to_string(model.movie_ids.size()) + " movies as candidates");
    candidate_vectors.resize(static_cast<Eigen::Index>(candidates.size()), model.movies.cols());
    for (std::size_t j = 0; j < candidates.size(); ++j) {
      candidate_vectors.row(static_cast<Eigen::Index>(j)) = model.movies.row(candidates[j]);
    }
    if (config.score.exclude_rated) {
      candidate_rated =
          restrict_items(audience.rated, candidate_positions(candidates, model.movie_ids.size()));
    }
  }
  const RowMatrix& movies = filtered ? candidate_vectors : model.movies;
  const UserItems* exclude = nullptr;
  if (config.score.exclude_rated) exclude = filtered ? &candidate_rated : &audience.rated;
  double load_seconds = total.seconds();

  const std::vector<int> taste = taste_columns(model.users, model.movies);
  db::PublicationExtras extras;
  TopNBlock similar;
  double similar_seconds = 0;
  if (config.similar.enabled) {
    log::Stopwatch clock;
    similar =
        similar_movies(model.movies, taste, candidates, config.similar.top_k, config.score.threads);
    similar_seconds = clock.seconds();
    extras.similar_k = config.similar.top_k;
    log::info("similar movies: top " + std::to_string(config.similar.top_k) + " for " +
              std::to_string(model.movie_ids.size()) + " movies in " +
              std::to_string(similar_seconds) + " s");
  }
  Clusters clusters;
  double cluster_seconds = 0;
  if (config.clusters.enabled) {
    log::Stopwatch clock;
    clusters = make_clusters(audience, model, taste, candidates, config);
    cluster_seconds = clock.seconds();
    extras.user_clusters = clusters.user_k;
    extras.movie_clusters = clusters.movie_k;
    log::info("clusters: " + std::to_string(clusters.user_k) + " of users, " +
              std::to_string(clusters.movie_k) + " of movies in " +
              std::to_string(cluster_seconds) + " s");
  }

  log::info("scoring " + std::to_string(audience.ids.size()) + " users x " +
            std::to_string(candidates.size()) + " movies with model " +
            std::to_string(model.model_id) + " (" + model.type + ", " + config.score.method +
            "), top " + std::to_string(config.score.top_n));
  TopNOptions options;
  options.top_n = config.score.top_n;
  options.threads = config.score.threads;
  options.user_block = config.score.user_block;
  options.movie_block = config.score.movie_block;

  // Explained block by block in the parallel part of the scoring pipeline
  // (options.prepare), so it overlaps the scoring; the serial sink only
  // picks up each block's explanation and writes it.
  std::optional<Explainer> explainer;
  double explain_seconds = 0;  // building the explainer, plus every block's explaining
  if (config.score.explain) {
    log::Stopwatch explain_clock;
    explainer.emplace(model.movies, taste, audience.rated, audience.raw);
    explain_seconds = explain_clock.seconds();
  }
  const std::vector<std::int32_t> no_candidates;
  std::mutex explained_mutex;  // guards explained and explain_seconds
  std::unordered_map<int, std::vector<std::int64_t>> explained;  // by block.user_begin
  if (explainer) {
    options.prepare = [&](const TopNBlock& b) {
      log::Stopwatch explain_clock;
      const std::vector<std::int32_t> why =
          explainer->explain(b, filtered ? candidates : no_candidates);
      std::vector<std::int64_t> because;
      because.reserve(why.size());
      for (std::int32_t m : why) {
        because.push_back(m == kNoReason ? db::kNoBecause
                                         : model.movie_ids[static_cast<std::size_t>(m)]);
      }
      const double seconds = explain_clock.seconds();
      const std::lock_guard<std::mutex> lock(explained_mutex);
      explained.emplace(b.user_begin, std::move(because));
      explain_seconds += seconds;
    };
  }

  ScoreSummary s;
  std::int64_t below_floor = 0;
  log::Stopwatch clock;
  std::int64_t run_id = run.id();  // records the run first: it cannot nest in the publish
  {
    // The live set, read alongside from its own snapshot, before the
    // publisher deletes it.
    const auto live = db::sqlite_live_lists(db);
    eval::PublicationChanges::PreviousLists previous;
    if (live) previous = [&live](std::int64_t user, auto& out) { live->list_of(user, out); };
    eval::PublicationChanges changes(candidates.size(), std::move(previous));
    // Rolls back unless committed; its failures say the previous set stays.
    const auto publisher = db::sqlite_publisher(db, config.keep.sets);
    bool finite = true;
    TopNBlock kept;
    std::vector<std::int64_t> because;
    auto sink = [&](const TopNBlock& b) {
      because.clear();
      if (explainer) {
        const std::lock_guard<std::mutex> lock(explained_mutex);
        auto it = explained.find(b.user_begin);
        because = std::move(it->second);
        explained.erase(it);
      }
      const TopNBlock* out = &b;
      if (any_below_floor(signal, b)) {
        kept = b;
        below_floor += drop_below_floor(signal, kept);
        out = &kept;
      }
      changes.add(*out, audience.ids, candidate_ids);
      finite &= publisher->add(*out, audience.ids, candidate_ids, because);
    };
    if (config.score.method == "ann") {
      AnnOptions ann;
      if (config.score.ann_nprobe > 0) ann.nprobe = config.score.ann_nprobe;
      ann.clusters = config.score.ann_clusters;
      ann.seed = config.model.seed;
      score_top_n_ann(audience.users, movies, exclude, options, ann, sink);
    } else {
      score_top_n(audience.users, movies, exclude, options, sink);
    }
    if (config.similar.enabled)
      finite &= publisher->replace_similar(similar, model.movie_ids, candidate_ids);
    if (!finite) throw GateError("scores are not finite; refusing to publish");
    if (config.clusters.enabled)
      publisher->replace_clusters(clusters.users, clusters.movies, clusters.popular);
    publisher->commit(run_id, model.model_id, config.score.top_n, extras);
    s.rows = publisher->rows();
    s.users = static_cast<std::int64_t>(audience.ids.size()) - below_floor;
    s.users_published = publisher->users();
    s.churn = changes.churn();
    s.churn_users = changes.users_compared();
    s.new_users = changes.users_new();
    s.coverage = changes.coverage();
    s.movies_covered = changes.movies_covered();
    for (const db::KeptSet& gone : publisher->removed()) {
      log::info("removed {}: keep.sets is {}", describe_set(gone), config.keep.sets);
    }
    run.count("kept_sets_removed", static_cast<std::int64_t>(publisher->removed().size()));
  }
  s.model_id = model.model_id;
  s.model_type = model.type;
  s.candidate_movies = static_cast<std::int64_t>(candidates.size());
  s.seconds = clock.seconds();
  log::info("published " + std::to_string(s.rows) + " recommendations for " +
            std::to_string(s.users) + " users in " + std::to_string(s.seconds) + " s" +
            (explainer ? " (explaining them took " + std::to_string(explain_seconds) +
                             " s of thread time, overlapped with the scoring)"
                       : std::string()));
  if (no_positive + below_floor > 0) {
    log::info(std::to_string(no_positive + below_floor) + " user(s) get no rows, their vectors " +
              "carry no signal (" + std::to_string(no_positive) + " without a positive rating, " +
              std::to_string(below_floor) + " with a best score below " + model.type +
              "'s floor); the web app serves them the fallback");
  }
  run.count("users_scored", s.users);
  run.count("users_folded_in", audience.folded_in);
  run.count("users_without_signal", no_positive + below_floor);
  run.count("recommendations", s.rows);
  run.count("candidate_movies", static_cast<std::int64_t>(candidates.size()));
  run.count("published_model_id", model.model_id);
  if (config.clusters.enabled) {
    run.count("user_clusters", clusters.user_k);
    run.count("movie_clusters", clusters.movie_k);
  }
  if (s.churn) run.metric("churn", *s.churn);
  run.count("churn_users", s.churn_users);
  run.metric("coverage", s.coverage);
  run.count("movies_covered", s.movies_covered);
  run.model_type(model.type);
  run.timing("score_load", load_seconds);
  if (config.score.explain) run.timing("explain", explain_seconds);
  if (config.similar.enabled) run.timing("similar", similar_seconds);
  if (config.clusters.enabled) run.timing("clusters", cluster_seconds);
  run.timing("score_publish", s.seconds);
  run.timing("score", total.seconds());
  return s;
}

}  // namespace recs
