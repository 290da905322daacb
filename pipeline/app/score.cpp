#include "app/score.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <limits>
#include <mutex>
#include <numeric>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <unordered_map>

#include "app/ann_plan.h"
#include "app/rollback.h"
#include "app/serving.h"
#include "app/train.h"
#include "cluster/kmeans.h"
#include "cluster/popular.h"
#include "db/catalog.h"
#include "db/model_store.h"
#include "db/postgres.h"
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
#include "util/progress.h"

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
  std::int64_t removed = 0;     // trained users with no rating left in the database
};

// Only users first_user..last_user (a shard's, app/shard.h); the default
// is everyone. `loaded`: every stored rating, read by an earlier stage of the
// same run (everyone only).
Audience build_audience(SQLite::Database& db, const Config& config, const db::StoredModel& model,
                        const UserIdSpan& span, const LoadedRatings* loaded) {
  const bool everyone = span.first == std::numeric_limits<std::int64_t>::min() &&
                        span.last == std::numeric_limits<std::int64_t>::max();
  if (!everyone) loaded = nullptr;
  std::vector<double> own_raw;
  RatingMatrix own;
  if (!loaded) {
    db::RatingsRequest range;
    range.first_user = span.first;
    range.last_user = span.last;
    own = load_ratings(db, config, range, &own_raw, everyone);
  }
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
  std::vector<std::pair<float, std::int64_t>> census;
  if (!everyone && !new_users.empty()) {
    // A shard folds in against every stored rating, as one process does,
    // from their counts per value (no more than its own ratings in memory).
    census = load_rating_census(db, config, inputs.users);
    inputs.ratings = nullptr;
    inputs.rating_counts = &census;
  }
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
  Audience a;
  for (std::size_t i = 0; i < model.user_ids.size(); ++i) {
    if (!span.contains(model.user_ids[i])) continue;
    // A trained user the imports since removed (no rating left) gets no rows.
    if (!std::binary_search(r.user_ids.begin(), r.user_ids.end(), model.user_ids[i])) {
      ++a.removed;
      continue;
    }
    all.push_back({model.user_ids[i], static_cast<int>(i), -1});
  }
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
  out.removed = a.removed;
  a = std::move(out);
  return removed;
}

// Publishing would empty every user's list: names the filter that left no
// candidate (the one most likely to have, when several are set).
[[noreturn]] void no_candidates(const Config& config, const db::StoredModel& model) {
  const ScoreConfig& f = config.score;
  if (f.allow_movies.empty() && f.exclude_movies.empty() && f.exclude_genres.empty()) {
    throw InputError("no movie of model " + std::to_string(model.model_id) +
                     " is still in the catalog or rated (imports removed them all since it was "
                     "trained); train again; nothing published");
  }
  const char* key = !f.allow_movies.empty()     ? "score.allow_movies"
                    : !f.exclude_genres.empty() ? "score.exclude_genres"
                                                : "score.exclude_movies";
  throw ConfigError(config.where(key) +
                    ": the business filters leave no movie of the model to recommend; nothing "
                    "published");
}

// No user would get a row (none has a rating the model counts as positive,
// or every score is below the type's floor): publishing would empty the
// table the web app reads, so the live set stays.
// `scored`: users who were scored (all of whose lists came out empty), and
// `candidates` the movies the business filters left.
[[noreturn]] void empty_set(const db::StoredModel& model, const SignalRule& signal,
                            std::int64_t no_positive, std::int64_t scored = 0,
                            std::size_t candidates = 0, bool filtered = false) {
  std::string why;
  if (scored > 0) {
    why = " (" + std::to_string(scored) + " user(s) scored, each list empty: every score below " +
          "the type's floor, or no movie left to recommend once the rated ones are left out" +
          (filtered ? ", since the business filters leave " + std::to_string(candidates) +
                          " movie(s) (score.exclude_movies, exclude_genres, allow_movies)"
                    : std::string()) +
          ")";
  } else if (signal.needs_positive) {
    std::ostringstream threshold;
    threshold << signal.positive_threshold;
    why = " (" + std::to_string(no_positive) + " user(s) without a rating at or above " +
          threshold.str() + ", the model's positive_threshold, or every score below its floor)";
  }
  throw GateError("no user would get a recommendation from model " +
                  std::to_string(model.model_id) + why +
                  "; refusing to publish an empty set, the previous recommendations stay in "
                  "place");
}

// Genres match whole names, case and all: an excluded genre no catalog
// movie has (a typo, "horror" for "Horror") would filter nothing silently.
void warn_unknown_genres(const Config& config, const std::vector<MovieGenres>& catalog) {
  std::set<std::string> present;
  for (const MovieGenres& movie : catalog) {
    std::size_t begin = 0;
    for (;;) {
      const std::size_t bar = movie.genres.find('|', begin);
      present.insert(movie.genres.substr(begin, bar - begin));
      if (bar == std::string::npos) break;
      begin = bar + 1;
    }
  }
  auto lower = [](std::string text) {
    for (char& ch : text) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return text;
  };
  for (const std::string& genre : config.score.exclude_genres) {
    if (present.count(genre)) continue;
    std::string hint;
    for (const std::string& p : present) {
      if (lower(p) == lower(genre))
        hint = " (genres are case-sensitive: did you mean '" + p + "'?)";
    }
    log::warn(config.where("score.exclude_genres") + ": no catalog movie has the genre '" + genre +
              "'; it excludes nothing" + hint);
  }
}

// What the business filters leave: the model's candidate movies, and the
// known movies they keep out (for the fallback, model or not).
struct Filtered {
  CandidateMovies candidates;
  std::vector<std::int64_t> excluded;
};

// The movies anyone may be recommended (model indices, ascending) after the
// business filters, warning about filtered ids the model does not know.
Filtered filter_candidates(SQLite::Database& db, const Config& config,
                           const db::StoredModel& model) {
  MovieFilters filters = business_filters(config.score);
  const auto repository = db::sqlite_catalog(db);
  const std::vector<std::int64_t> known = repository->known_movie_ids();
  filters.known = &known;
  std::vector<MovieGenres> catalog;
  if (!filters.exclude_genres.empty()) {
    catalog = repository->movie_genres();
    warn_unknown_genres(config, catalog);
  }
  CandidateMovies c = candidate_movies(model.movie_ids, filters, catalog);
  if (!c.removed.empty()) {
    log::warn(std::to_string(c.removed.size()) + " movie(s) of model " +
              std::to_string(model.model_id) +
              " are no longer in the catalog nor rated (an import removed them after it was " +
              "trained); never recommended");
  }
  auto unknown = [&](const char* key, std::int64_t count) {
    if (count > 0) {
      log::warn(config.where(key) + ": " + std::to_string(count) +
                " movie id(s) the model does not know; ignored");
    }
  };
  unknown("score.allow_movies", c.unknown_allowed);
  unknown("score.exclude_movies", c.unknown_excluded);
  Filtered out{std::move(c), excluded_movies(known, filters, catalog)};
  if (!out.excluded.empty()) {
    log::info("business filters keep " + std::to_string(out.excluded.size()) + " of " +
              std::to_string(known.size()) +
              " known movies out of the lists and of the fallback for users without rows");
  }
  return out;
}

// Leaves out the rows of the movies an import removed after the model was
// trained (CandidateMovies::removed): their similar movies, their cluster.
void drop_removed(TopNBlock& similar, const std::vector<std::int32_t>& removed) {
  for (std::int32_t m : removed) {
    if (m >= similar.user_begin && m < similar.user_end) similar.counts[m - similar.user_begin] = 0;
  }
}

void drop_removed(ClusterRows& rows, const std::vector<std::int32_t>& removed) {
  if (removed.empty()) return;
  ClusterRows kept;
  std::size_t next = 0;
  for (std::size_t i = 0; i < rows.ids.size(); ++i) {
    if (next < removed.size() && static_cast<std::size_t>(removed[next]) == i) {
      ++next;
      continue;
    }
    kept.ids.push_back(rows.ids[i]);
    kept.cluster.push_back(rows.cluster[i]);
    kept.distance.push_back(rows.distance[i]);
  }
  rows = std::move(kept);
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

// What scoring a set of users needs, read and derived once: the audience
// (after dropping users without signal), the candidate movies after the
// business filters, and the masks.
struct Prepared {
  Audience audience;
  SignalRule signal;
  std::int64_t no_positive = 0;
  std::vector<std::int32_t> candidates;
  std::vector<std::int64_t> candidate_ids;
  std::vector<std::int32_t> removed;   // model movies an import removed since training
  std::vector<std::int64_t> excluded;  // known movies the filters keep out (external ids)
  bool filtered = false;
  RowMatrix candidate_vectors;
  UserItems candidate_rated;
  std::vector<int> taste;

  const RowMatrix& movies(const db::StoredModel& model) const {
    return filtered ? candidate_vectors : model.movies;
  }
  const UserItems* exclude(const Config& config) const {
    if (!config.score.exclude_rated) return nullptr;
    return filtered ? &candidate_rated : &audience.rated;
  }
};

void check_finite(const db::StoredModel& model) {
  if (!model.users.allFinite() || !model.movies.allFinite()) {
    throw GateError("model " + std::to_string(model.model_id) +
                    " has non-finite vectors; refusing to publish");
  }
}

Prepared prepare(SQLite::Database& db, const Config& config, const db::StoredModel& model,
                 const UserIdSpan& span, const LoadedRatings* loaded = nullptr) {
  Prepared p;
  p.audience = build_audience(db, config, model, span, loaded);
  // The audience holds its own copy: the loaded ratings are no longer needed.
  if (loaded && loaded->release) loaded->release();
  Audience& audience = p.audience;
  // Users whose vectors carry no signal get no rows (the web app serves them
  // sql/fallback.sql): those without a positive now, those whose best score
  // is below the type's floor while the lists are published.
  p.signal = signal_rule(config.model, model.type);
  p.no_positive =
      keep_users(audience, users_with_positive(p.signal, audience.rated.indptr, audience.value));
  if (audience.removed > 0) {
    log::warn(
        "{} user(s) of model {} have no rating left (removed by an import since it was "
        "trained) and get no rows",
        audience.removed, model.model_id);
  }
  if (audience.folded_in + audience.not_folded > 0) {
    log::info("folded in " + std::to_string(audience.folded_in) +
              " user(s) who rated after training" +
              (audience.not_folded ? "; " + std::to_string(audience.not_folded) +
                                         " more have no usable rating and get the fallback"
                                   : std::string()));
  }
  Filtered filtered = filter_candidates(db, config, model);
  p.candidates = std::move(filtered.candidates.movies);
  p.removed = std::move(filtered.candidates.removed);
  p.excluded = std::move(filtered.excluded);
  const std::vector<std::int32_t>& candidates = p.candidates;
  // Publishing would empty every user's list; keep the live set instead.
  if (candidates.empty() && !model.movie_ids.empty()) no_candidates(config, model);
  p.filtered = candidates.size() != model.movie_ids.size();
  p.candidate_ids.reserve(candidates.size());
  for (std::int32_t m : candidates)
    p.candidate_ids.push_back(model.movie_ids[static_cast<std::size_t>(m)]);
  if (p.filtered) {
    log::info("business filters leave " + std::to_string(candidates.size()) + " of " +
              std::to_string(model.movie_ids.size()) + " movies as candidates");
    p.candidate_vectors.resize(static_cast<Eigen::Index>(candidates.size()), model.movies.cols());
    for (std::size_t j = 0; j < candidates.size(); ++j) {
      p.candidate_vectors.row(static_cast<Eigen::Index>(j)) = model.movies.row(candidates[j]);
    }
    if (config.score.exclude_rated) {
      p.candidate_rated =
          restrict_items(audience.rated, candidate_positions(candidates, model.movie_ids.size()));
    }
  }
  p.taste = taste_columns(model.users, model.movies);
  return p;
}

// Receives each scored block (users with a best score below the floor
// dropped) with its because_movie_id per row (empty: not explained);
// returns false on a non-finite score.
using BlockSink =
    std::function<bool(const TopNBlock& block, std::span<const std::int64_t> because)>;

struct Scored {
  std::int64_t below_floor = 0;
  // Building the explainer (wall time), plus every block's explaining (CPU
  // time of the threads that explained it, summed).
  double explain_seconds = 0;
  bool explained = false;
  bool finite = true;
  std::optional<AnnPlan> ann;  // score.method: ann
};

// Scores the prepared audience against the candidates, top score.top_n,
// explaining each block in the parallel stage, and hands the blocks to
// `sink` in user order.
Scored score_audience(SQLite::Database& db, const Config& config, const db::StoredModel& model,
                      const Prepared& p, const BlockSink& sink,
                      db::ShardWriter* ann_share = nullptr) {
  const Audience& audience = p.audience;
  log::info("scoring " + std::to_string(audience.ids.size()) + " users x " +
            std::to_string(p.candidates.size()) + " movies with model " +
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
  Scored out;
  std::optional<Explainer> explainer;
  if (config.score.explain) {
    log::Stopwatch explain_clock;
    explainer.emplace(model.movies, p.taste, audience.rated, audience.raw, kExplainLiked);
    out.explain_seconds = explain_clock.seconds();
    out.explained = true;
  }
  const std::vector<std::int32_t> no_candidates;
  std::mutex explained_mutex;  // guards explained and out.explain_seconds
  std::unordered_map<int, std::vector<std::int64_t>> explained;  // by block.user_begin
  if (explainer) {
    options.prepare = [&](const TopNBlock& b) {
      double seconds = 0;  // CPU time, so other work sharing the cores does not count
      const std::vector<std::int32_t> why =
          explainer->explain(b, p.filtered ? p.candidates : no_candidates, &seconds);
      std::vector<std::int64_t> because;
      because.reserve(why.size());
      for (std::int32_t m : why) {
        because.push_back(m == kNoReason ? db::kNoBecause
                                         : model.movie_ids[static_cast<std::size_t>(m)]);
      }
      const std::lock_guard<std::mutex> lock(explained_mutex);
      explained.emplace(b.user_begin, std::move(because));
      out.explain_seconds += seconds;
    };
  }
  TopNBlock kept;
  std::vector<std::int64_t> because;
  Progress progress("score and publish", static_cast<std::int64_t>(audience.ids.size()), "users");
  auto each = [&](const TopNBlock& b) {
    progress.add(b.user_end - b.user_begin);
    because.clear();
    if (explainer) {
      const std::lock_guard<std::mutex> lock(explained_mutex);
      auto it = explained.find(b.user_begin);
      because = std::move(it->second);
      explained.erase(it);
    }
    const TopNBlock* block = &b;
    if (any_below_floor(p.signal, b)) {
      kept = b;
      out.below_floor += drop_below_floor(p.signal, kept);
      block = &kept;
    }
    out.finite &= sink(*block, because);
  };
  const RowMatrix& movies = p.movies(model);
  const UserItems* exclude = p.exclude(config);
  if (config.score.method == "ann") {
    out.ann = plan_ann(db, config, model, p.candidates, movies, ann_share);
    score_top_n_ann(audience.users, out.ann->index, exclude, options, out.ann->nprobe,
                    AnnOptions{}.user_block, each);
  } else {
    score_top_n(audience.users, movies, exclude, options, each);
  }
  return out;
}

void log_without_signal(std::int64_t no_positive, std::int64_t below_floor,
                        const std::string& type) {
  if (no_positive + below_floor > 0) {
    log::info(std::to_string(no_positive + below_floor) + " user(s) get no rows, their vectors " +
              "carry no signal (" + std::to_string(no_positive) + " without a positive rating, " +
              std::to_string(below_floor) + " with a best score below " + type +
              "'s floor); the web app serves them the fallback");
  }
}

constexpr UserIdSpan kEveryone{std::numeric_limits<std::int64_t>::min(),
                               std::numeric_limits<std::int64_t>::max()};

}  // namespace

void take_changes(const eval::PublicationChanges& changes, ScoreSummary& s) {
  s.churn = changes.churn();
  s.churn_users = changes.users_compared();
  s.new_users = changes.users_new();
  s.coverage = changes.coverage();
  s.movies_covered = changes.movies_covered();
}

void record_changes(const ScoreSummary& s, db::RunRecord& run) {
  if (s.churn) run.metric("churn", *s.churn);
  run.count("churn_users", s.churn_users);
  run.metric("coverage", s.coverage);
  run.count("movies_covered", s.movies_covered);
}

db::StoredModel with_folded_in_users(SQLite::Database& db, const Config& config,
                                     db::StoredModel model, std::vector<std::int64_t> wanted) {
  if (!config.score.fold_in) return model;
  std::erase_if(wanted, [&](std::int64_t id) { return model.user_index(id) >= 0; });
  if (wanted.empty()) return model;
  const auto [lo, hi] = std::minmax_element(wanted.begin(), wanted.end());
  Audience a = build_audience(db, config, model, UserIdSpan{*lo, *hi}, nullptr);
  if (a.folded_in == 0) return model;
  log::info("folded in {} user(s) who rated after model {} was trained, as score does", a.folded_in,
            model.model_id);
  // The trained users and the folded-in ones (the audience's users the model
  // lacks), merged by id.
  std::vector<std::int64_t> ids;
  ids.reserve(model.user_ids.size() + static_cast<std::size_t>(a.folded_in));
  RowMatrix users(static_cast<Eigen::Index>(model.user_ids.size()) + a.folded_in,
                  model.users.cols());
  std::size_t t = 0;
  const auto take = [&](std::int64_t id, const auto& row) {
    users.row(static_cast<Eigen::Index>(ids.size())) = row;
    ids.push_back(id);
  };
  for (std::size_t i = 0; i < a.ids.size(); ++i) {
    if (model.user_index(a.ids[i]) >= 0) continue;
    while (t < model.user_ids.size() && model.user_ids[t] < a.ids[i]) {
      take(model.user_ids[t], model.users.row(static_cast<Eigen::Index>(t)));
      ++t;
    }
    take(a.ids[i], a.users.row(static_cast<Eigen::Index>(i)));
  }
  for (; t < model.user_ids.size(); ++t)
    take(model.user_ids[t], model.users.row(static_cast<Eigen::Index>(t)));
  model.user_ids = std::move(ids);
  model.users = std::move(users);
  return model;
}

ScoreSummary run_score(SQLite::Database& db, const Config& config, db::RunRecord& run,
                       std::optional<std::int64_t> model_id, const LoadedRatings* loaded) {
  log::Stopwatch total;
  db::StoredModel model =
      model_id ? db::sqlite_models(db)->get(*model_id) : db::sqlite_models(db)->latest();
  check_finite(model);
  const Prepared prepared = prepare(db, config, model, kEveryone, loaded);
  const Audience& audience = prepared.audience;
  // A set with no row would empty the web app's table: the live one stays.
  if (audience.ids.empty()) empty_set(model, prepared.signal, prepared.no_positive);
  const std::vector<std::int32_t>& candidates = prepared.candidates;
  const std::vector<std::int64_t>& candidate_ids = prepared.candidate_ids;
  const std::vector<int>& taste = prepared.taste;
  double load_seconds = total.seconds();

  db::PublicationExtras extras;
  extras.excluded_movies = prepared.excluded;
  TopNBlock similar;
  double similar_seconds = 0;
  if (config.similar.enabled) {
    log::Stopwatch clock;
    similar =
        similar_movies(model.movies, taste, candidates, config.similar.top_k, config.score.threads);
    drop_removed(similar, prepared.removed);
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
    drop_removed(clusters.movies, prepared.removed);
    cluster_seconds = clock.seconds();
    extras.user_clusters = clusters.user_k;
    extras.movie_clusters = clusters.movie_k;
    log::info("clusters: " + std::to_string(clusters.user_k) + " of users, " +
              std::to_string(clusters.movie_k) + " of movies in " +
              std::to_string(cluster_seconds) + " s");
  }

  ScoreSummary s;
  Scored scored;
  log::Stopwatch clock;
  std::int64_t run_id = run.id();  // records the run first: it cannot nest in the publish
  {
    // The live set, read alongside from its own snapshot, before the
    // publisher deletes it.
    const bool postgres = !config.serve.postgres.empty();
    const db::PostgresOptions pg_options{config.serve.postgres, config.serve.reader_role};
    auto live = postgres ? db::postgres_live_lists(pg_options) : db::sqlite_live_lists(db);
    eval::PublicationChanges::PreviousLists previous;
    if (live) previous = [&live](std::int64_t user, auto& out) { live->list_of(user, out); };
    eval::PublicationChanges changes(candidates.size(), std::move(previous));
    // Rolls back unless committed; its failures say the previous set stays.
    std::unique_ptr<db::Publisher> publisher;
    if (postgres) {
      auto pg = db::postgres_publisher(pg_options, db, model.model_id);
      run.count("postgres_generation", pg->generation());
      publisher = std::move(pg);
    } else {
      publisher = db::sqlite_publisher(db, config.keep.sets);
    }
    std::int64_t rows_added = 0;
    scored = score_audience(db, config, model, prepared,
                            [&](const TopNBlock& b, std::span<const std::int64_t> because) {
                              for (std::int32_t c : b.counts) rows_added += c;
                              changes.add(b, audience.ids, candidate_ids);
                              return publisher->add(b, audience.ids, candidate_ids, because);
                            });
    bool finite = scored.finite;
    // Every list is compared; PostgreSQL drops old generations at commit,
    // which waits for the live set's reading transaction.
    if (postgres) live.reset();
    if (config.similar.enabled)
      finite &= publisher->replace_similar(similar, model.movie_ids, candidate_ids);
    if (!finite) throw GateError("scores are not finite; refusing to publish");
    if (rows_added == 0) {
      empty_set(model, prepared.signal, prepared.no_positive,
                static_cast<std::int64_t>(audience.ids.size()), candidates.size(),
                !prepared.excluded.empty());
    }
    if (config.clusters.enabled)
      publisher->replace_clusters(clusters.users, clusters.movies, clusters.popular);
    publisher->commit(run_id, model.model_id, config.score.top_n, extras);
    s.rows = publisher->rows();
    s.users = static_cast<std::int64_t>(audience.ids.size()) - scored.below_floor;
    s.users_published = publisher->users();
    take_changes(changes, s);
    for (const db::KeptSet& gone : publisher->removed()) {
      log::info("removed {}: keep.sets is {}", describe_set(gone), config.keep.sets);
    }
    run.count("kept_sets_removed", static_cast<std::int64_t>(publisher->removed().size()));
  }
  // The set this publish retired or removed may have been the last to name
  // a model beyond keep.models: pruned now, not at the next training. The
  // publish is committed; a failure here only postpones that.
  try {
    prune_models(db, config);
  } catch (const std::exception& e) {
    log::warn("could not remove the models no set names any more: {}; the next train does",
              e.what());
  }
  const std::int64_t no_positive = prepared.no_positive;
  const std::int64_t below_floor = scored.below_floor;
  const double explain_seconds = scored.explain_seconds;
  s.model_id = model.model_id;
  s.model_type = model.type;
  s.candidate_movies = static_cast<std::int64_t>(candidates.size());
  s.seconds = clock.seconds();
  log::info("published " + std::to_string(s.rows) + " recommendations for " +
            std::to_string(s.users) + " users in " + std::to_string(s.seconds) + " s" +
            (scored.explained ? " (explaining them took " + std::to_string(explain_seconds) +
                                    " s of CPU time, overlapped with the scoring)"
                              : std::string()));
  log_without_signal(no_positive, below_floor, model.type);
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
  record_changes(s, run);
  run.model_type(model.type);
  run.timing("score_load", load_seconds);
  if (config.score.explain) run.timing("explain", explain_seconds);
  if (config.similar.enabled) run.timing("similar", similar_seconds);
  if (config.clusters.enabled) run.timing("clusters", cluster_seconds);
  if (scored.ann) record_ann(*scored.ann, run);
  run.timing("score_publish", s.seconds);
  run.timing("score", total.seconds());
  return s;
}

namespace {

// The user clusters' centroids every shard shares: k-means over the unit
// taste vectors of the model's users, which every shard holds, so each
// computes the same ones (deterministic for any thread count).
RowMatrix shared_user_centroids(const db::StoredModel& model, const std::vector<int>& taste,
                                const Config& config) {
  int k = 0;
  KMeansOptions o;
  o.k = std::min<int>(config.clusters.users, static_cast<int>(model.users.rows()));
  o.max_iterations = config.clusters.iterations;
  o.seed = config.model.seed;
  o.threads = config.score.threads;
  k = o.k;
  if (k < 1) return {};
  return kmeans(unit_rows(model.users, taste), o).centroids;
}

}  // namespace

ShardScoreSummary run_score_shard(SQLite::Database& db, const Config& config, const ShardSpec& spec,
                                  const ShardWriterFactory& open_writer) {
  log::Stopwatch total;
  ShardScoreSummary s;
  db::StoredModel model = db::sqlite_models(db)->latest();
  check_finite(model);
  s.span = shard_users(model.user_ids, spec);
  log::info("shard {}: users {}..{} of model {} ({} trained users in all)", spec.label(),
            s.span.first, s.span.last, model.model_id, model.user_ids.size());
  const Prepared prepared = prepare(db, config, model, s.span);
  const Audience& audience = prepared.audience;
  s.load_seconds = total.seconds();

  std::unique_ptr<db::ShardWriter> writer = open_writer(model);
  log::Stopwatch clock;
  const Scored scored = score_audience(
      db, config, model, prepared,
      [&](const TopNBlock& b, std::span<const std::int64_t> because) {
        return writer->add(b, audience.ids, prepared.candidate_ids, because);
      },
      writer.get());
  if (scored.ann) record_ann(*scored.ann, s.ann);
  if (!scored.finite) throw GateError("scores are not finite; refusing to stage");
  if (config.clusters.enabled) {
    log::Stopwatch cluster_clock;
    const RowMatrix centroids = shared_user_centroids(model, prepared.taste, config);
    if (centroids.rows() > 0) {
      KMeansResult km = assign_to_centroids(unit_rows(audience.users, prepared.taste), centroids,
                                            config.score.threads);
      writer->add_cluster_counts(
          cluster_movie_counts(km.assignment, static_cast<int>(centroids.rows()), audience.rated,
                               audience.raw, prepared.candidates, model.movie_ids));
      writer->add_user_clusters({audience.ids, std::move(km.assignment), std::move(km.distance)});
    }
    s.cluster_seconds = cluster_clock.seconds();
  }
  writer->commit();
  s.seconds = clock.seconds();
  s.model_id = model.model_id;
  s.model_type = model.type;
  s.rows = writer->rows();
  s.users_published = writer->users();
  s.users = static_cast<std::int64_t>(audience.ids.size()) - scored.below_floor;
  s.folded_in = audience.folded_in;
  s.without_signal = prepared.no_positive + scored.below_floor;
  log_without_signal(prepared.no_positive, scored.below_floor, model.type);
  log::info("shard {}: staged {} recommendations for {} users from model {} in {:.3f} s",
            spec.label(), s.rows, s.users_published, model.model_id, total.seconds());
  return s;
}

MovieSide movie_side(SQLite::Database& db, const Config& config, const db::StoredModel& model) {
  MovieSide m;
  Filtered f = filter_candidates(db, config, model);
  const CandidateMovies& filtered = f.candidates;
  m.extras.excluded_movies = std::move(f.excluded);
  const std::vector<std::int32_t>& candidates = filtered.movies;
  if (candidates.empty() && !model.movie_ids.empty()) no_candidates(config, model);
  for (std::int32_t c : candidates)
    m.candidate_ids.push_back(model.movie_ids[static_cast<std::size_t>(c)]);
  const std::vector<int> taste = taste_columns(model.users, model.movies);
  if (config.similar.enabled) {
    log::Stopwatch clock;
    m.similar =
        similar_movies(model.movies, taste, candidates, config.similar.top_k, config.score.threads);
    drop_removed(m.similar, filtered.removed);
    m.extras.similar_k = config.similar.top_k;
    m.similar_seconds = clock.seconds();
  }
  if (config.clusters.enabled) {
    log::Stopwatch clock;
    int movie_k = 0;
    m.movie_clusters = cluster_rows(unit_rows(model.movies, taste), model.movie_ids,
                                    config.clusters.movies, config, movie_k);
    drop_removed(m.movie_clusters, filtered.removed);
    m.extras.movie_clusters = movie_k;
    m.extras.user_clusters =
        std::min<int>(config.clusters.users, static_cast<int>(model.users.rows()));
    m.cluster_seconds = clock.seconds();
  }
  return m;
}

}  // namespace recs
