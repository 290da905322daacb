// A serving database of generations: the web app's tables (recommendations,
// similar_movies, the cluster tables, and the catalog, popularity and rated
// movies its queries need) exist once per generation, and readers follow
// the one live generation. A publication is three steps, which may run in
// different processes:
//
//   1. create():      a new generation for a model, empty, invisible to readers;
//   2. stage_*():     rows copied into it; each call replaces what the same
//                     call staged before (the recommendations in parts, e.g.
//                     one per shard of users: re-staging a part replaces that
//                     part only), so a failed step is simply run again;
//   3. make_live():   one atomic step: readers see the complete old or the
//                     complete new generation, never a mix, and never wait.
//
// The generation it replaced stays as the previous one (restore() makes it
// live again); older ones are dropped after make_live() without blocking
// readers. Backend-neutral; db/postgres.h makes the PostgreSQL one.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "data/clusters.h"
#include "data/top_n.h"
#include "db/publish.h"
#include "db/shards.h"

namespace SQLite {
class Database;
}

namespace recs::db {

// One part of a generation's recommendations being staged. Rows stream in
// with add() (as Publisher::add); commit() replaces whatever the part held.
// Destroyed without commit(), the part is left as it was.
class PartWriter {
 public:
  virtual ~PartWriter() = default;
  // Returns false when a score is not finite (the row is still written).
  virtual bool add(const TopNBlock& block, const std::vector<std::int64_t>& user_ids,
                   const std::vector<std::int64_t>& movie_ids,
                   std::span<const std::int64_t> because) = 0;
  virtual void commit() = 0;
  virtual std::int64_t rows() const = 0;
  virtual std::int64_t users() const = 0;
  // Sharded scoring (app/sharded.h): the part is shard `part` of `shards`;
  // its users' clusters and its part of "popular in your cluster" are
  // written by commit() in the same transaction, replacing the part's
  // earlier ones.
  virtual void set_shard(int shards, const ClusterRows& users,
                         const std::vector<ClusterMovieCount>& counts) = 0;
};

// What make_live() did.
struct LiveSwitch {
  std::int64_t generation = 0;
  std::optional<std::int64_t> previous;  // the generation it replaced, now kept
  std::int64_t users = 0;                // over all staged parts
  std::int64_t rows = 0;
  std::vector<std::int64_t> dropped;  // older generations removed
};

class ServingGenerations {
 public:
  virtual ~ServingGenerations() = default;

  // Step 1: a new, empty generation for `model_id` (published by `run_id`).
  virtual std::int64_t create(std::optional<std::int64_t> model_id,
                              std::optional<std::int64_t> run_id) = 0;

  // Step 2. Recommendations, part `part` (any number >= 0; one per shard).
  // The writer uses this object's connection: one at a time, and no other
  // call until it is committed or destroyed (a process staging parts at
  // once makes one ServingGenerations per part).
  virtual std::unique_ptr<PartWriter> stage_part(std::int64_t generation, int part) = 0;
  // similar_movies, as Publisher::replace_similar; false on a non-finite score.
  virtual bool stage_similar(std::int64_t generation, const TopNBlock& similar,
                             const std::vector<std::int64_t>& row_ids,
                             const std::vector<std::int64_t>& candidate_ids) = 0;
  virtual void stage_clusters(std::int64_t generation, const ClusterRows& users,
                              const ClusterRows& movies,
                              const std::vector<ClusterPopularRow>& popular) = 0;
  // The catalog, popularity and every user's rated movies, read from the
  // pipeline's SQLite database.
  virtual void stage_catalog(std::int64_t generation, SQLite::Database& source) = 0;

  // Step 3: makes `generation` live in one transaction; the live one becomes
  // the previous one; then drops the generations older than both (and any
  // abandoned staging one older than `generation`). Throws NotFoundError when
  // `generation` is not a staged generation.
  virtual LiveSwitch make_live(std::int64_t generation, std::optional<std::int64_t> run_id,
                               int top_n, const PublicationExtras& extras) = 0;

  // Swaps the live and the previous generation in one transaction. Throws
  // NotFoundError when there is no previous generation.
  virtual LiveSwitch restore() = 0;

  virtual std::optional<std::int64_t> live() = 0;

  // Sharded scoring (app/sharded.h). The staging generation the shards of a
  // `shards`-shard run of model `model_id` share: the newest one of that
  // model whose parts are all such shards, created as create() does when
  // there is none and `create` is set; one lock makes concurrent shards
  // agree on it.
  virtual std::optional<std::int64_t> shard_generation(std::int64_t model_id, int shards,
                                                       bool create) = 0;
  // Every shard part of every staging generation, by generation and part.
  virtual std::vector<StagedPart> staged_parts() = 0;
  // The score.top_n each shard of `generation` was scored with (its latest
  // successful run), by shard; shards run before it was recorded are absent.
  virtual std::map<int, int> shard_top_ns(std::int64_t generation) = 0;
  // What the shards of `generation` staged beside their lists: every
  // user's cluster (by user id) and the cluster counts of every part.
  virtual void staged_clusters(std::int64_t generation, ClusterRows& users,
                               std::vector<ClusterMovieCount>& counts) = 0;
  // score.method: ann's plan of `generation`: the stored one, or the one
  // `compute` returns, stored; concurrent callers wait for the first, so it
  // is computed once per generation.
  virtual StoredAnnPlan shared_ann_plan(std::int64_t generation, const AnnPlanCompute& compute) = 0;

  // The shards' run history (they cannot write the SQLite file). start_shard_run
  // marks earlier 'running' rows of the same shard 'abandoned' and returns the
  // new row's id; end_shard_run records the outcome (counts, timings, metrics:
  // JSON objects).
  struct ShardRunEnd {
    std::string status;  // succeeded, failed, refused
    std::string message;
    std::optional<std::int64_t> model_id;
    std::optional<std::int64_t> generation;
    std::string counts = "{}";
    std::string timings = "{}";
    std::string metrics = "{}";
  };
  virtual std::int64_t start_shard_run(int shard, int shards, const std::string& host,
                                       const std::string& config) = 0;
  virtual void end_shard_run(std::int64_t run_id, const ShardRunEnd& end) = 0;
};

}  // namespace recs::db
