// The publication repository: the web app's tables (recommendations,
// similar_movies, the cluster tables) replaced under the readers' guarantee
// — a reader sees the old complete set or the new complete set, never a
// mix — what is live read back, and the previous sets kept for rollback.
// Backend-neutral; db/sqlite.h makes the SQLite ones (a PostgreSQL
// publisher implements the same interfaces).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "data/clusters.h"
#include "data/top_n.h"

namespace recs::db {

// A recommendation no rated movie explains: because_movie_id is NULL.
inline constexpr std::int64_t kNoBecause = 0;

// What else a publication holds; unset = not computed by this run, and the
// table is left empty so nothing from an older model outlives it.
struct PublicationExtras {
  std::optional<int> similar_k;
  std::optional<int> user_clusters;
  std::optional<int> movie_clusters;
  // The known movies (external ids, ascending) the business filters keep
  // out: the fallback for users without rows skips them too.
  std::vector<std::int64_t> excluded_movies;
};

// A published set that is kept but not live, as its publication row was.
struct KeptSet {
  std::int64_t set_id = 0;               // its place among the kept sets
  std::optional<std::int64_t> run_id;    // the run that published it
  std::optional<std::int64_t> model_id;  // the model it was scored with
  std::string published_at;
  std::int64_t user_count = 0;
  std::int64_t row_count = 0;
  int top_n = 0;
};

// One publication in progress: made when it begins, it replaces the whole
// set at commit(). Destroyed without commit() (a failure, a refusal), it
// rolls back and the old set stays; a killed process leaves the old set too.
// With keep_sets >= 2 the set it replaces is kept (see KeptSets), and the
// kept sets retired longest ago are removed so that keep_sets - 1 remain.
class Publisher {
 public:
  virtual ~Publisher() = default;

  // Adds a scored block; user and movie indices are mapped to external ids.
  // `because` (laid out as block.items, external movie ids, kNoBecause for
  // none) is each row's because_movie_id; empty leaves every row's NULL.
  // Returns false when a score is not finite (the row is still written; the
  // caller refuses to commit).
  virtual bool add(const TopNBlock& block, const std::vector<std::int64_t>& user_ids,
                   const std::vector<std::int64_t>& movie_ids,
                   std::span<const std::int64_t> because) = 0;
  bool add(const TopNBlock& block, const std::vector<std::int64_t>& user_ids,
           const std::vector<std::int64_t>& movie_ids) {
    return add(block, user_ids, movie_ids, {});
  }

  // Replaces similar_movies: row i of `similar` is movie row_ids[i], its
  // items index candidate_ids. Returns false on a non-finite score.
  virtual bool replace_similar(const TopNBlock& similar, const std::vector<std::int64_t>& row_ids,
                               const std::vector<std::int64_t>& candidate_ids) = 0;
  virtual void replace_clusters(const ClusterRows& users, const ClusterRows& movies,
                                const std::vector<ClusterPopularRow>& popular) = 0;

  // Records what is live and commits. Tables the extras leave unset are
  // emptied.
  virtual void commit(std::int64_t run_id, std::optional<std::int64_t> model_id, int top_n,
                      const PublicationExtras& extras) = 0;

  virtual std::int64_t rows() const = 0;   // recommendations added
  virtual std::int64_t users() const = 0;  // users with at least one
  // The kept sets this publication removed (gone once it commits).
  virtual const std::vector<KeptSet>& removed() const = 0;
};

// What is live: the publication and the run it came from.
class PublishedSet {
 public:
  virtual ~PublishedSet() = default;

  // The live set's N; empty when nothing was published.
  virtual std::optional<int> top_n() = 0;

  // Metric `key` the live set's run recorded (e.g. "eval_ndcg@10"); empty
  // when nothing was published or that run did not record it.
  virtual std::optional<double> run_metric(const std::string& key) = 0;
  // Every numeric metric that run recorded, by key; empty as above.
  virtual std::map<std::string, double> run_metrics() = 0;

  // The run that published the live set and the model it was scored with;
  // empty when nothing was published or the publication names none.
  virtual std::optional<std::int64_t> run_id() = 0;
  virtual std::optional<std::int64_t> model_id() = 0;
};

// What a rollback did: the set now live, and the one it replaced, now kept
// (empty when nothing was live).
struct Rollback {
  KeptSet restored;  // its set_id is the place it was kept at
  std::optional<KeptSet> retired;
};

// The published sets kept besides the live one.
class KeptSets {
 public:
  virtual ~KeptSets() = default;

  // Most recently retired first.
  virtual std::vector<KeptSet> list() = 0;

  // Makes a kept set live again in one atomic step, under the readers'
  // guarantee, and keeps the live set in its place: the most recently
  // retired one, so a second rollback undoes the first, or, with
  // `published_by`, the newest kept set that run published. Throws
  // NotFoundError, changing nothing, when there is no such set.
  virtual Rollback rollback(std::optional<std::int64_t> published_by) = 0;
};

}  // namespace recs::db
