// The PostgreSQL generations (db/serving.h, db/postgres.h). Every table of
// schema/postgres/ is partitioned by generation; create() makes and attaches
// generation G's partitions while they are empty (attaching takes SHARE
// UPDATE EXCLUSIVE on the parent, which no reader's ACCESS SHARE waits
// for), staging copies rows into them with binary COPY (ROW EXCLUSIVE, no
// wait either), and make_live() moves recs_store.serving.live to G in one
// short transaction: the views filter every table on that one value, read
// in the reader's statement snapshot, so a statement sees the whole old or
// the whole new generation. Retired partitions are detached CONCURRENTLY
// (readers never wait) and then dropped.
#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <thread>

#include "db/database.h"
#include "db/postgres.h"
#include "db/postgres_connection.h"
#include "db/postgres_schema.h"
#include "db/sqlite_error.h"
#include "util/error.h"
#include "util/log.h"

namespace recs::db {
namespace {

// The per-generation tables, parents in recs_store.
constexpr const char* kTables[] = {"rec_lists",      "similar_lists",   "user_clusters",
                                   "movie_clusters", "cluster_popular", "movies",
                                   "movie_stats",    "rated_lists",     "excluded_movies"};

// Serialises schema changes and generation switches among publishers.
constexpr const char* kLock = "SELECT pg_advisory_xact_lock(7310414151)";

const std::string kPublishContext = "publishing failed, the live set stays in place";

std::string partition(const std::string& table, std::int64_t generation) {
  return "recs_store." + table + "_g" + std::to_string(generation);
}

std::string opt(const std::optional<std::int64_t>& v) {
  return v ? std::to_string(*v) : std::string("NULL");
}
// Round-trips a double through text.
std::string fmt_double(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.17g", v);
  return buffer;
}

std::string opt(const std::optional<int>& v) {
  return v ? std::to_string(*v) : std::string("NULL");
}

// Statistics for the planner after staging: the row count and the key
// columns (the arrays' element statistics would take most of a publish).
std::string analyze(const std::string& table, std::int64_t generation) {
  std::string columns;
  if (table == "rec_lists" || table == "rated_lists") columns = " (generation, user_id)";
  if (table == "similar_lists") columns = " (generation, movie_id)";
  return "ANALYZE " + partition(table, generation) + columns;
}

void migrate(pg::Connection& c, const std::string& reader_role) {
  c.exec("BEGIN");
  c.exec(kLock);
  c.exec(
      "CREATE SCHEMA IF NOT EXISTS recs_store; CREATE SCHEMA IF NOT EXISTS recs; "
      "CREATE TABLE IF NOT EXISTS recs_store.schema_version (version integer NOT NULL)");
  const pg::Result v = c.exec("SELECT coalesce(max(version), 0) FROM recs_store.schema_version");
  const std::int64_t current = v.int64(0, 0);
  for (const Migration& m : postgres_migrations()) {
    if (m.version <= current) continue;
    c.exec(m.sql);
    c.exec("INSERT INTO recs_store.schema_version (version) VALUES (" + std::to_string(m.version) +
           ")");
  }
  if (!reader_role.empty()) {
    const pg::Result role = c.exec("SELECT 1 FROM pg_roles WHERE rolname = $1",
                                   {std::optional<std::string>(reader_role)});
    if (role.rows() == 0)
      c.fail("serve.reader_role '" + reader_role + "' is not a role of this server");
    const std::string r = pg::quote_ident(reader_role);
    // The views run with their owner's rights: the role needs nothing in
    // recs_store, and gets nothing but SELECT in recs.
    c.exec("GRANT USAGE ON SCHEMA recs TO " + r +
           "; GRANT SELECT ON ALL TABLES IN SCHEMA recs TO " + r);
  }
  c.exec("COMMIT");
}

class PgPartWriter final : public PartWriter {
 public:
  PgPartWriter(pg::Connection& c, std::int64_t generation, int part)
      : c_(c), generation_(generation), part_(part) {
    c_.exec("BEGIN");
    const pg::Result state =
        c_.exec("SELECT state FROM recs_store.generations WHERE generation = " +
                std::to_string(generation) + " FOR SHARE");
    if (state.rows() == 0 || state.text(0, 0) != "staging") {
      c_.exec("ROLLBACK");
      throw NotFoundError(c_.server() + ": generation " + std::to_string(generation) +
                          " is not being staged; nothing changed");
    }
    c_.exec("DELETE FROM " + partition("rec_lists", generation) +
            " WHERE part = " + std::to_string(part));
    copy_.emplace(c_, partition("rec_lists", generation) +
                          " (generation, part, user_id, movie_ids, scores, because_ids)");
    open_ = true;
  }

  ~PgPartWriter() override {
    if (!open_) return;
    copy_.reset();
    try {
      c_.exec("ROLLBACK");
    } catch (const Error&) {  // the connection is gone: the server rolls back
    }
  }

  bool add(const TopNBlock& b, const std::vector<std::int64_t>& user_ids,
           const std::vector<std::int64_t>& movie_ids,
           std::span<const std::int64_t> because) override {
    bool finite = true;
    for (int i = 0; i < b.user_end - b.user_begin; ++i) {
      const int count = b.counts[static_cast<std::size_t>(i)];
      if (count <= 0) continue;
      const std::size_t base = static_cast<std::size_t>(i) * static_cast<std::size_t>(b.top_n);
      ids_.resize(static_cast<std::size_t>(count));
      for (int k = 0; k < count; ++k) {
        const std::size_t at = base + static_cast<std::size_t>(k);
        ids_[static_cast<std::size_t>(k)] = movie_ids[static_cast<std::size_t>(b.items[at])];
        finite &= std::isfinite(b.scores[at]);
      }
      copy_->row(6);
      copy_->int64(generation_);
      copy_->int32(part_);
      copy_->int64(user_ids[static_cast<std::size_t>(b.user_begin + i)]);
      copy_->int64_array(ids_);
      copy_->float4_array(
          std::span<const float>(b.scores.data() + base, static_cast<std::size_t>(count)));
      if (because.empty()) {
        copy_->null();
      } else {
        copy_->int64_array(because.subspan(base, static_cast<std::size_t>(count)), kNoBecause);
      }
      ++users_;
      rows_ += count;
    }
    return finite;
  }

  void set_shard(int shards, const ClusterRows& users,
                 const std::vector<ClusterMovieCount>& counts) override {
    shards_ = shards;
    shard_users_ = users;
    shard_counts_ = counts;
  }

  void commit() override {
    copy_->finish();
    copy_.reset();
    if (shards_ > 0) write_shard();
    c_.exec("INSERT INTO recs_store.parts (generation, part, user_count, row_count) VALUES (" +
            std::to_string(generation_) + ", " + std::to_string(part_) + ", " +
            std::to_string(users_) + ", " + std::to_string(rows_) +
            ") ON CONFLICT (generation, part) DO UPDATE SET user_count = EXCLUDED.user_count, "
            "row_count = EXCLUDED.row_count, staged_at = now()");
    c_.exec(analyze("rec_lists", generation_));
    c_.exec("COMMIT");
    open_ = false;
  }

  std::int64_t rows() const override { return rows_; }
  std::int64_t users() const override { return users_; }

 private:
  // The shard's rows beside its lists, replacing the part's earlier ones.
  void write_shard() {
    const std::string where = " WHERE generation = " + std::to_string(generation_) +
                              " AND part = " + std::to_string(part_);
    c_.exec("DELETE FROM recs_store.shard_user_clusters" + where +
            "; DELETE FROM recs_store.shard_cluster_counts" + where);
    {
      pg::CopyIn copy(c_,
                      "recs_store.shard_user_clusters (generation, part, user_id, cluster, "
                      "distance)");
      for (std::size_t i = 0; i < shard_users_.ids.size(); ++i) {
        copy.row(5);
        copy.int64(generation_);
        copy.int32(part_);
        copy.int64(shard_users_.ids[i]);
        copy.int32(shard_users_.cluster[i]);
        copy.float4(shard_users_.distance[i]);
      }
      copy.finish();
    }
    {
      pg::CopyIn copy(c_,
                      "recs_store.shard_cluster_counts (generation, part, cluster, movie_id, "
                      "rating_count, rating_sum)");
      for (const ClusterMovieCount& k : shard_counts_) {
        copy.row(6);
        copy.int64(generation_);
        copy.int32(part_);
        copy.int32(k.cluster);
        copy.int64(k.movie_id);
        copy.int64(k.rating_count);
        copy.float8(k.rating_sum);
      }
      copy.finish();
    }
    c_.exec("INSERT INTO recs_store.shard_parts (generation, part, shards) VALUES (" +
            std::to_string(generation_) + ", " + std::to_string(part_) + ", " +
            std::to_string(shards_) +
            ") ON CONFLICT (generation, part) DO UPDATE SET shards = " + "EXCLUDED.shards");
  }

  pg::Connection& c_;
  std::int64_t generation_;
  int part_;
  int shards_ = 0;
  ClusterRows shard_users_;
  std::vector<ClusterMovieCount> shard_counts_;
  std::optional<pg::CopyIn> copy_;
  std::vector<std::int64_t> ids_;
  std::int64_t rows_ = 0;
  std::int64_t users_ = 0;
  bool open_ = false;
};

class PgGenerations final : public ServingGenerations {
 public:
  // `migrated`: another connection of this process already migrated.
  explicit PgGenerations(const PostgresOptions& o, bool migrated = false)
      : c_(o.conninfo, kPublishContext),
        attach_wait_(o.attach_wait_seconds),
        detach_wait_(o.detach_wait_seconds) {
    if (!migrated) migrate(c_, o.reader_role);
  }

  std::int64_t create(std::optional<std::int64_t> model_id,
                      std::optional<std::int64_t> run_id) override {
    c_.exec("BEGIN");
    c_.exec(kLock);
    const std::int64_t g = create_locked(model_id, run_id);
    c_.exec("COMMIT");
    note_attach(g);
    return g;
  }

  std::optional<std::int64_t> shard_generation(std::int64_t model_id, int shards,
                                               bool create) override {
    c_.exec("BEGIN");
    c_.exec(kLock);
    const pg::Result found = c_.exec(
        "SELECT g.generation FROM recs_store.generations AS g WHERE g.state = 'staging' AND "
        "g.model_id = " +
        std::to_string(model_id) +
        " AND NOT EXISTS (SELECT 1 FROM recs_store.parts AS p LEFT JOIN recs_store.shard_parts "
        "AS s USING (generation, part) WHERE p.generation = g.generation AND s.shards IS "
        "DISTINCT FROM " +
        std::to_string(shards) + ") ORDER BY g.generation DESC LIMIT 1");
    std::optional<std::int64_t> g;
    if (found.rows() > 0) {
      g = found.int64(0, 0);
    } else if (create) {
      g = create_locked(model_id, std::nullopt);
    }
    c_.exec("COMMIT");
    if (found.rows() == 0 && g) note_attach(*g);
    return g;
  }

  std::vector<StagedPart> staged_parts() override {
    const pg::Result r = c_.exec(
        "SELECT p.generation, p.part, s.shards, g.model_id, p.user_count, p.row_count, "
        "to_char(p.staged_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
        "FROM recs_store.parts AS p JOIN recs_store.shard_parts AS s USING (generation, part) "
        "JOIN recs_store.generations AS g USING (generation) WHERE g.state = 'staging' "
        "ORDER BY p.generation, p.part");
    std::vector<StagedPart> out;
    for (int i = 0; i < r.rows(); ++i) {
      StagedPart p;
      p.generation = r.int64(i, 0);
      p.shard = static_cast<int>(r.int64(i, 1));
      p.shards = static_cast<int>(r.int64(i, 2));
      p.model_id = r.optional_int64(i, 3).value_or(0);
      p.users = r.int64(i, 4);
      p.rows = r.int64(i, 5);
      p.staged_at = r.text(i, 6);
      out.push_back(p);
    }
    return out;
  }

  void staged_clusters(std::int64_t g, ClusterRows& users,
                       std::vector<ClusterMovieCount>& counts) override {
    const std::string gs = std::to_string(g);
    const pg::Result u = c_.exec(
        "SELECT user_id, cluster, distance FROM recs_store.shard_user_clusters WHERE generation "
        "= " +
        gs + " ORDER BY user_id");
    users = {};
    for (int i = 0; i < u.rows(); ++i) {
      users.ids.push_back(u.int64(i, 0));
      users.cluster.push_back(static_cast<std::int32_t>(u.int64(i, 1)));
      users.distance.push_back(std::stof(u.text(i, 2)));
    }
    const pg::Result k = c_.exec(
        "SELECT cluster, movie_id, rating_count, rating_sum FROM "
        "recs_store.shard_cluster_counts WHERE generation = " +
        gs + " ORDER BY cluster, movie_id, part");
    counts.clear();
    for (int i = 0; i < k.rows(); ++i) {
      counts.push_back({static_cast<std::int32_t>(k.int64(i, 0)), k.int64(i, 1), k.int64(i, 2),
                        std::stod(k.text(i, 3))});
    }
  }

  StoredAnnPlan shared_ann_plan(std::int64_t g, const AnnPlanCompute& compute) override {
    const std::string gs = std::to_string(g);
    c_.exec("BEGIN");
    try {
      // One plan per generation: the first shard computes it under this
      // lock, the others wait and read it.
      c_.exec("SELECT pg_advisory_xact_lock(731041416, " + std::to_string(g % 2147483647) + ")");
      const pg::Result r = c_.exec(
          "SELECT params, nprobe, recall, recall_low, sample_users, clusters, cluster_of, seconds "
          "FROM recs_store.ann_plans WHERE generation = " +
          gs);
      StoredAnnPlan plan;
      if (r.rows() > 0) {
        plan.params = r.text(0, 0);
        plan.nprobe = static_cast<int>(r.int64(0, 1));
        if (!r.null(0, 2)) plan.recall = std::stod(r.text(0, 2));
        if (!r.null(0, 3)) plan.recall_low = std::stod(r.text(0, 3));
        plan.sample_users = r.int64(0, 4);
        plan.clusters = static_cast<int>(r.int64(0, 5));
        const std::string array = r.text(0, 6);  // {1,2,3}
        std::size_t at = 1;
        while (at < array.size() && array[at] != '}') {
          std::size_t end = array.find_first_of(",}", at);
          plan.cluster_of.push_back(
              static_cast<std::int32_t>(std::stol(array.substr(at, end - at))));
          at = array[end] == ',' ? end + 1 : end;
        }
        plan.seconds = std::stod(r.text(0, 7));
        c_.exec("COMMIT");
        return plan;
      }
      plan = compute();
      std::string array = "{";
      for (std::size_t i = 0; i < plan.cluster_of.size(); ++i) {
        if (i) array += ',';
        array += std::to_string(plan.cluster_of[i]);
      }
      array += '}';
      auto real = [](double v) {
        return std::isnan(v) ? std::optional<std::string>() : std::optional(fmt_double(v));
      };
      c_.exec(
          "INSERT INTO recs_store.ann_plans (generation, params, nprobe, recall, recall_low, "
          "sample_users, clusters, cluster_of, seconds) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
          "$9)",
          {gs, plan.params, std::to_string(plan.nprobe), real(plan.recall), real(plan.recall_low),
           std::to_string(plan.sample_users), std::to_string(plan.clusters), array,
           fmt_double(plan.seconds)});
      c_.exec("COMMIT");
      return plan;
    } catch (...) {
      try {
        c_.exec("ROLLBACK");
      } catch (const Error&) {  // the connection is gone: the server rolls back
      }
      throw;
    }
  }

  std::int64_t start_shard_run(int shard, int shards, const std::string& host,
                               const std::string& config) override {
    c_.exec(
        "UPDATE recs_store.shard_runs SET status = 'abandoned', ended_at = now(), message = "
        "'killed or lost: a later run of this shard started' WHERE status = 'running' AND "
        "shard = " +
        std::to_string(shard) + " AND shards = " + std::to_string(shards));
    const pg::Result r = c_.exec(
        "INSERT INTO recs_store.shard_runs (shard, shards, host, status, config) VALUES ($1, $2, "
        "$3, 'running', $4) RETURNING run_id",
        {std::to_string(shard), std::to_string(shards), host, config});
    return r.int64(0, 0);
  }

  std::map<int, int> shard_top_ns(std::int64_t generation) override {
    const pg::Result r = c_.exec(
        "SELECT DISTINCT ON (shard) shard, (counts->>'top_n')::integer FROM "
        "recs_store.shard_runs WHERE generation = $1 AND status = 'succeeded' ORDER BY shard, "
        "run_id DESC",
        {std::to_string(generation)});
    std::map<int, int> out;
    for (int i = 0; i < r.rows(); ++i) {
      if (!r.null(i, 1)) out[static_cast<int>(r.int64(i, 0))] = static_cast<int>(r.int64(i, 1));
    }
    return out;
  }

  void end_shard_run(std::int64_t run_id, const ShardRunEnd& end) override {
    c_.exec(
        "UPDATE recs_store.shard_runs SET status = $2, message = $3, model_id = $4, generation = "
        "$5, counts = $6::jsonb, timings = $7::jsonb, metrics = $8::jsonb, ended_at = now() "
        "WHERE run_id = $1",
        {std::to_string(run_id), end.status,
         end.message.empty() ? std::optional<std::string>() : std::optional(end.message),
         end.model_id ? std::optional(std::to_string(*end.model_id)) : std::nullopt,
         end.generation ? std::optional(std::to_string(*end.generation)) : std::nullopt, end.counts,
         end.timings, end.metrics});
  }

  std::unique_ptr<PartWriter> stage_part(std::int64_t generation, int part) override {
    return std::make_unique<PgPartWriter>(c_, generation, part);
  }

  bool stage_similar(std::int64_t g, const TopNBlock& b, const std::vector<std::int64_t>& row_ids,
                     const std::vector<std::int64_t>& candidate_ids) override {
    bool finite = true;
    staging(g, {"similar_lists"}, [&] {
      pg::CopyIn copy(
          c_, partition("similar_lists", g) + " (generation, movie_id, similar_ids, scores)");
      std::vector<std::int64_t> ids;
      for (int i = 0; i < b.user_end - b.user_begin; ++i) {
        const int count = b.counts[static_cast<std::size_t>(i)];
        if (count <= 0) continue;
        const std::size_t base = static_cast<std::size_t>(i) * static_cast<std::size_t>(b.top_n);
        ids.resize(static_cast<std::size_t>(count));
        for (int k = 0; k < count; ++k) {
          const std::size_t at = base + static_cast<std::size_t>(k);
          ids[static_cast<std::size_t>(k)] = candidate_ids[static_cast<std::size_t>(b.items[at])];
          finite &= std::isfinite(b.scores[at]);
        }
        copy.row(4);
        copy.int64(g);
        copy.int64(row_ids[static_cast<std::size_t>(b.user_begin + i)]);
        copy.int64_array(ids);
        copy.float4_array(
            std::span<const float>(b.scores.data() + base, static_cast<std::size_t>(count)));
      }
      copy.finish();
    });
    return finite;
  }

  void stage_clusters(std::int64_t g, const ClusterRows& users, const ClusterRows& movies,
                      const std::vector<ClusterPopularRow>& popular) override {
    staging(g, {"user_clusters", "movie_clusters", "cluster_popular"}, [&] {
      auto write = [&](const ClusterRows& rows, const char* table, const char* id) {
        pg::CopyIn copy(c_, partition(table, g) + " (generation, " + id + ", cluster, distance)");
        for (std::size_t i = 0; i < rows.ids.size(); ++i) {
          copy.row(4);
          copy.int64(g);
          copy.int64(rows.ids[i]);
          copy.int32(rows.cluster[i]);
          copy.float4(rows.distance[i]);
        }
        copy.finish();
      };
      write(users, "user_clusters", "user_id");
      write(movies, "movie_clusters", "movie_id");
      pg::CopyIn copy(c_, partition("cluster_popular", g) +
                              " (generation, cluster, rank, movie_id, rating_count, mean_rating)");
      for (const auto& r : popular) {
        copy.row(6);
        copy.int64(g);
        copy.int32(static_cast<std::int32_t>(r.cluster));
        copy.int32(static_cast<std::int32_t>(r.rank));
        copy.int64(r.movie_id);
        copy.int64(r.rating_count);
        copy.float8(r.mean_rating);
      }
      copy.finish();
    });
  }

  void stage_catalog(std::int64_t g, SQLite::Database& source) override {
    staging(g, {"movies", "movie_stats", "rated_lists"}, [&] {
      translate_errors(source, [&] {
        {
          pg::CopyIn copy(c_, partition("movies", g) + " (generation, movie_id, title, genres)");
          SQLite::Statement q(source, "SELECT movie_id, title, genres FROM movies");
          while (q.executeStep()) {
            copy.row(4);
            copy.int64(g);
            copy.int64(q.getColumn(0).getInt64());
            copy.text(q.getColumn(1).getString());
            copy.text(q.getColumn(2).getString());
          }
          copy.finish();
        }
        {
          pg::CopyIn copy(c_, partition("movie_stats", g) +
                                  " (generation, movie_id, rating_count, mean_rating, "
                                  "popularity_rank)");
          SQLite::Statement q(source,
                              "SELECT movie_id, rating_count, mean_rating, popularity_rank "
                              "FROM movie_stats");
          while (q.executeStep()) {
            copy.row(5);
            copy.int64(g);
            copy.int64(q.getColumn(0).getInt64());
            copy.int64(q.getColumn(1).getInt64());
            copy.float8(q.getColumn(2).getDouble());
            copy.int64(q.getColumn(3).getInt64());
          }
          copy.finish();
        }
        pg::CopyIn copy(c_, partition("rated_lists", g) + " (generation, user_id, movie_ids)");
        // The primary key's order: one user's movies together, ascending.
        SQLite::Statement q(source,
                            "SELECT user_id, movie_id FROM ratings ORDER BY user_id, movie_id");
        std::vector<std::int64_t> movies;
        std::int64_t user = 0;
        auto flush = [&] {
          if (movies.empty()) return;
          copy.row(3);
          copy.int64(g);
          copy.int64(user);
          copy.int64_array(movies);
          movies.clear();
        };
        while (q.executeStep()) {
          const std::int64_t u = q.getColumn(0).getInt64();
          if (u != user) flush();
          user = u;
          movies.push_back(q.getColumn(1).getInt64());
        }
        flush();
        copy.finish();
      });
    });
  }

  LiveSwitch make_live(std::int64_t g, std::optional<std::int64_t> run_id, int top_n,
                       const PublicationExtras& extras) override {
    wait_for_attach(g);
    const std::string gs = std::to_string(g);
    LiveSwitch s;
    s.generation = g;
    c_.exec("BEGIN");
    c_.exec(kLock);
    const pg::Result state = c_.exec(
        "SELECT state FROM recs_store.generations WHERE generation = " + gs + " FOR UPDATE");
    if (state.rows() == 0 || state.text(0, 0) != "staging") {
      c_.exec("ROLLBACK");
      throw NotFoundError(c_.server() + ": generation " + gs +
                          " is not a staged generation; the live set stays in place");
    }
    if (!extras.excluded_movies.empty()) {
      // The movies the business filters keep out of the set, for the
      // fallback queries.
      std::string ids = "{";
      for (std::int64_t movie : extras.excluded_movies) {
        if (ids.size() > 1) ids += ',';
        ids += std::to_string(movie);
      }
      // A generation staged before migration 4 has no such partition yet.
      if (c_.exec("SELECT to_regclass(" + pg::quote_literal(partition("excluded_movies", g)) +
                  ") IS NULL")
              .text(0, 0) == "t") {
        create_partition("excluded_movies", g);
      }
      c_.exec("INSERT INTO " + partition("excluded_movies", g) + " (generation, movie_id) SELECT " +
              gs + ", unnest('" + ids + "}'::bigint[]) ON CONFLICT DO NOTHING");
    }
    s.previous =
        c_.exec("SELECT live FROM recs_store.serving WHERE id = 1 FOR UPDATE").optional_int64(0, 0);
    const pg::Result sums = c_.exec(
        "SELECT coalesce(sum(user_count), 0), coalesce(sum(row_count), 0) FROM recs_store.parts "
        "WHERE generation = " +
        gs);
    s.users = sums.int64(0, 0);
    s.rows = sums.int64(0, 1);
    c_.exec(
        "UPDATE recs_store.generations SET state = 'retired' WHERE state = 'previous'; "
        "UPDATE recs_store.generations SET state = 'previous' WHERE state = 'live'; "
        "UPDATE recs_store.generations SET state = 'live', published_at = now(), run_id = "
        "coalesce(" +
        opt(run_id) + ", run_id), user_count = " + std::to_string(s.users) +
        ", row_count = " + std::to_string(s.rows) + ", top_n = " + std::to_string(top_n) +
        ", similar_k = " + opt(extras.similar_k) +
        ", user_clusters = " + opt(extras.user_clusters) +
        ", movie_clusters = " + opt(extras.movie_clusters) + " WHERE generation = " + gs +
        "; UPDATE recs_store.serving SET previous = live, live = " + gs + " WHERE id = 1");
    c_.exec("COMMIT");
    s.dropped = drop_old(g);
    return s;
  }

  LiveSwitch restore() override {
    c_.set_context("rollback failed, the live set stays in place");
    LiveSwitch s;
    c_.exec("BEGIN");
    c_.exec(kLock);
    const pg::Result r =
        c_.exec("SELECT live, previous FROM recs_store.serving WHERE id = 1 FOR UPDATE");
    if (r.null(0, 1)) {
      c_.exec("ROLLBACK");
      throw NotFoundError(c_.server() + ": nothing to roll back to: no previous generation");
    }
    s.generation = r.int64(0, 1);
    s.previous = r.optional_int64(0, 0);
    c_.exec(
        "UPDATE recs_store.generations SET state = CASE WHEN state = 'live' THEN 'previous' "
        "ELSE 'live' END WHERE state IN ('live', 'previous'); UPDATE recs_store.serving SET "
        "live = previous, previous = live WHERE id = 1");
    const pg::Result sums =
        c_.exec("SELECT user_count, row_count FROM recs_store.generations WHERE generation = " +
                std::to_string(s.generation));
    s.users = sums.int64(0, 0);
    s.rows = sums.int64(0, 1);
    c_.exec("COMMIT");
    return s;
  }

  std::optional<std::int64_t> live() override {
    return c_.exec("SELECT live FROM recs_store.serving WHERE id = 1").optional_int64(0, 0);
  }

 private:
  // A new staging generation with its partitions attached; inside a
  // transaction holding kLock.
  std::int64_t create_locked(std::optional<std::int64_t> model_id,
                             std::optional<std::int64_t> run_id) {
    const std::int64_t g = c_.exec("SELECT nextval('recs_store.generation_ids')").int64(0, 0);
    c_.exec("INSERT INTO recs_store.generations (generation, model_id, run_id, state) VALUES (" +
            std::to_string(g) + ", " + opt(model_id) + ", " + opt(run_id) + ", 'staging')");
    for (const char* t : kTables) create_partition(t, g);
    return g;
  }

  // Generation g's partition of table `t`, made and attached.
  void create_partition(const std::string& t, std::int64_t g) {
    const std::string gs = std::to_string(g);
    const std::string p = partition(t, g);
    c_.exec("CREATE TABLE " + p + " (LIKE recs_store." + t + " INCLUDING ALL); ALTER TABLE " + p +
            " ADD CONSTRAINT " + t + "_g" + gs + "_generation CHECK (generation = " + gs +
            "); ALTER TABLE recs_store." + t + " ATTACH PARTITION " + p + " FOR VALUES IN (" + gs +
            ")");
  }

  // Whoever was in a transaction as the partitions were attached may hold
  // a plan without them; make_live() waits for those transactions.
  void note_attach(std::int64_t g) {
    c_.exec(
        "UPDATE recs_store.generations SET attach_vxids = (SELECT coalesce(array_agg("
        "virtualxid), '{}') FROM pg_locks WHERE locktype = 'virtualxid' AND pid <> "
        "pg_backend_pid()) WHERE generation = " +
        std::to_string(g));
  }

  // Replaces `tables` of staging generation g with what `body` copies, in
  // one transaction.
  template <typename Body>
  void staging(std::int64_t g, std::initializer_list<const char*> tables, Body&& body) {
    const std::string gs = std::to_string(g);
    c_.exec("BEGIN");
    try {
      const pg::Result state = c_.exec(
          "SELECT state FROM recs_store.generations WHERE generation = " + gs + " FOR SHARE");
      if (state.rows() == 0 || state.text(0, 0) != "staging") {
        throw NotFoundError(c_.server() + ": generation " + gs +
                            " is not being staged; nothing changed");
      }
      for (const char* t : tables) c_.exec("DELETE FROM " + partition(t, g));
      body();
      for (const char* t : tables) c_.exec(analyze(t, g));
      c_.exec("COMMIT");
    } catch (...) {
      try {
        c_.exec("ROLLBACK");
      } catch (const Error&) {
      }
      throw;
    }
  }

  void wait_for_attach(std::int64_t g) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::duration<double>(attach_wait_);
    while (true) {
      const std::int64_t open =
          c_.exec(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'virtualxid' AND pid <> "
                "pg_backend_pid() AND virtualxid = ANY (SELECT unnest(attach_vxids) FROM "
                "recs_store.generations WHERE generation = " +
                std::to_string(g) + ")")
              .int64(0, 0);
      if (open == 0) return;
      if (std::chrono::steady_clock::now() > deadline) {
        log::warn(
            "{}: {} transaction(s) open since generation {} was attached; making it live "
            "without waiting for them longer",
            c_.server(), open, g);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // Detaches (CONCURRENTLY: readers never wait) and drops every retired
  // generation and every abandoned staging one older than `live`. A failure
  // here is a warning: the next publish finishes it.
  std::vector<std::int64_t> drop_old(std::int64_t live) {
    std::vector<std::int64_t> dropped;
    // The new set is live by now: a failure here names itself, not the
    // publish.
    const std::string context = c_.context();
    c_.set_context(
        "dropping old generations stopped (the new set is live; the next publish "
        "goes on)");
    try {
      // A detach waits for every transaction that may see the partition: a
      // client idle in a transaction that long makes it a warning instead.
      c_.exec("SET lock_timeout = '" + std::to_string(static_cast<long long>(detach_wait_ * 1000)) +
              "ms'");
      // A detach stopped that way leaves its partition pending, and while
      // one is, PostgreSQL refuses to detach any other partition of that
      // table: finish those first.
      const pg::Result pending = c_.exec(
          "SELECT parent.relname, child.relname FROM pg_inherits AS i JOIN pg_class AS child ON "
          "child.oid = i.inhrelid JOIN pg_class AS parent ON parent.oid = i.inhparent JOIN "
          "pg_namespace AS n ON n.oid = parent.relnamespace WHERE n.nspname = 'recs_store' AND "
          "i.inhdetachpending ORDER BY 2");
      for (int i = 0; i < pending.rows(); ++i) {
        c_.exec("ALTER TABLE recs_store." + pg::quote_ident(pending.text(i, 0)) +
                " DETACH PARTITION recs_store." + pg::quote_ident(pending.text(i, 1)) +
                " FINALIZE");
      }
      const pg::Result old = c_.exec(
          "SELECT generation FROM recs_store.generations WHERE state = 'retired' OR (state = "
          "'staging' AND generation < " +
          std::to_string(live) + ") ORDER BY generation");
      for (int i = 0; i < old.rows(); ++i) {
        const std::int64_t g = old.int64(i, 0);
        for (const char* t : kTables) {
          const std::string p = partition(t, g);
          const pg::Result attached = c_.exec(
              "SELECT i.inhdetachpending FROM pg_inherits AS i WHERE i.inhrelid = to_regclass(" +
              pg::quote_literal(p) + ")");
          if (attached.rows() > 0) {
            c_.exec("ALTER TABLE recs_store." + std::string(t) + " DETACH PARTITION " + p +
                    (attached.text(0, 0) == "t" ? " FINALIZE" : " CONCURRENTLY"));
          }
          c_.exec("DROP TABLE IF EXISTS " + p);
        }
        const std::string gs = std::to_string(g);
        c_.exec("DELETE FROM recs_store.parts WHERE generation = " + gs +
                "; DELETE FROM recs_store.shard_parts WHERE generation = " + gs +
                "; DELETE FROM recs_store.shard_user_clusters WHERE generation = " + gs +
                "; DELETE FROM recs_store.shard_cluster_counts WHERE generation = " + gs +
                "; DELETE FROM recs_store.ann_plans WHERE generation = " + gs +
                "; DELETE FROM recs_store.generations WHERE generation = " + gs);
        dropped.push_back(g);
      }
    } catch (const Error& e) {
      log::warn("{}", e.what());
    }
    try {
      c_.exec("RESET lock_timeout");
    } catch (const Error&) {
    }
    c_.set_context(context);
    return dropped;
  }

  pg::Connection c_;
  double attach_wait_;
  double detach_wait_;
};

class PgPublisher final : public GenerationPublisher {
 public:
  PgPublisher(const PostgresOptions& o, SQLite::Database& source,
              std::optional<std::int64_t> model_id)
      : options_(o), gens_(o) {
    generation_ = gens_.create(model_id, std::nullopt);
    // The catalog (25 M rated movies at ML-25M size) is copied on a thread
    // of its own, over its own connections, while the lists stream in.
    const std::string file = source.getFilename();
    if (file.empty()) {
      gens_.stage_catalog(generation_, source);
    } else {
      catalog_ = std::thread([this, file] {
        try {
          const auto reader = open_read_only(file);
          PgGenerations side(options_, true);
          side.stage_catalog(generation_, *reader);
        } catch (...) {
          catalog_error_ = std::current_exception();
        }
      });
    }
    try {
      part_ = gens_.stage_part(generation_, 0);
    } catch (...) {
      if (catalog_.joinable()) catalog_.join();
      throw;
    }
  }

  ~PgPublisher() override {
    if (catalog_.joinable()) catalog_.join();
  }

  bool add(const TopNBlock& block, const std::vector<std::int64_t>& user_ids,
           const std::vector<std::int64_t>& movie_ids,
           std::span<const std::int64_t> because) override {
    if (!part_ || committed_) throw Error(ExitCode::kInternal, "publisher: add() after the lists");
    return part_->add(block, user_ids, movie_ids, because);
  }

  bool replace_similar(const TopNBlock& similar, const std::vector<std::int64_t>& row_ids,
                       const std::vector<std::int64_t>& candidate_ids) override {
    finish_lists();
    return gens_.stage_similar(generation_, similar, row_ids, candidate_ids);
  }

  void replace_clusters(const ClusterRows& users, const ClusterRows& movies,
                        const std::vector<ClusterPopularRow>& popular) override {
    finish_lists();
    gens_.stage_clusters(generation_, users, movies, popular);
  }

  void commit(std::int64_t run_id, std::optional<std::int64_t> /*model_id*/, int top_n,
              const PublicationExtras& extras) override {
    finish_lists();
    if (catalog_.joinable()) catalog_.join();
    if (catalog_error_) std::rethrow_exception(catalog_error_);
    const LiveSwitch s = gens_.make_live(generation_, run_id, top_n, extras);
    log::info("generation {} is live on the PostgreSQL server{}", s.generation,
              s.previous ? "; generation " + std::to_string(*s.previous) + " kept as the previous"
                         : std::string());
    for (std::int64_t g : s.dropped) log::info("dropped generation {}", g);
  }

  std::int64_t rows() const override { return rows_; }
  std::int64_t users() const override { return users_; }
  const std::vector<KeptSet>& removed() const override { return removed_; }
  std::int64_t generation() const override { return generation_; }

 private:
  void finish_lists() {
    if (committed_) return;
    part_->commit();
    rows_ = part_->rows();
    users_ = part_->users();
    committed_ = true;
    part_.reset();
  }

  PostgresOptions options_;
  PgGenerations gens_;
  std::int64_t generation_ = 0;
  std::thread catalog_;
  std::exception_ptr catalog_error_;
  std::unique_ptr<PartWriter> part_;
  bool committed_ = false;
  std::int64_t rows_ = 0;
  std::int64_t users_ = 0;
  std::vector<KeptSet> removed_;
};

// The rows of a cursor named `lists` over (user_id, movie_ids), in user
// order, fetched in batches.
class ListCursor {
 public:
  explicit ListCursor(pg::Connection& c) : c_(c) {}

  // The user of the row at the cursor; false past the last row.
  bool peek(std::int64_t& user) {
    while (!done_ && (!batch_ || at_ >= batch_->rows())) {
      batch_.emplace(c_.exec("FETCH 2000 FROM lists"));
      at_ = 0;
      done_ = batch_->rows() == 0;
    }
    if (done_) return false;
    user = batch_->int64(at_, 0);
    return true;
  }

  // The list of the row at the cursor ("{1,2,3}").
  void movies(std::vector<std::int64_t>& out) const {
    out.clear();
    const std::string text = batch_->text(at_, 1);
    const char* p = text.data() + 1;
    const char* end = text.data() + text.size();
    while (p < end && *p != '}') {
      std::int64_t id = 0;
      const auto [next, ec] = std::from_chars(p, end, id);
      if (ec != std::errc()) throw DatabaseError("recs_store.rec_lists: a bad movie_ids array");
      out.push_back(id);
      p = next + (next < end && *next == ',' ? 1 : 0);
    }
  }

  void advance() { ++at_; }

 private:
  pg::Connection& c_;
  std::optional<pg::Result> batch_;
  int at_ = 0;
  bool done_ = false;
};

class PgLiveLists final : public LiveLists {
 public:
  explicit PgLiveLists(const std::string& conninfo) : c_(conninfo, kPublishContext) {}

  // False when nothing is live.
  bool open() {
    if (c_.exec("SELECT to_regclass('recs_store.serving') IS NULL").text(0, 0) == "t") return false;
    c_.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (c_.exec("SELECT live FROM recs_store.serving WHERE id = 1").null(0, 0)) return false;
    c_.exec(
        "DECLARE lists NO SCROLL CURSOR FOR SELECT l.user_id, l.movie_ids FROM "
        "recs_store.rec_lists AS l WHERE l.generation = (SELECT live FROM recs_store.serving "
        "WHERE id = 1) ORDER BY l.user_id");
    return true;
  }

  void list_of(std::int64_t user, std::vector<std::int64_t>& movies) override {
    movies.clear();
    std::int64_t at = 0;
    while (cursor_.peek(at) && at < user) cursor_.advance();
    if (cursor_.peek(at) && at == user) cursor_.movies(movies);
  }

 private:
  pg::Connection c_;
  ListCursor cursor_{c_};
};

class PgGenerationLists final : public ListStream {
 public:
  PgGenerationLists(const std::string& conninfo, std::int64_t generation)
      : c_(conninfo, kPublishContext) {
    c_.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    c_.exec("DECLARE lists NO SCROLL CURSOR FOR SELECT user_id, movie_ids FROM " +
            partition("rec_lists", generation) + " ORDER BY user_id");
  }

  bool next(std::int64_t& user, std::vector<std::int64_t>& movies) override {
    if (!cursor_.peek(user)) return false;
    cursor_.movies(movies);
    cursor_.advance();
    return true;
  }

 private:
  pg::Connection c_;
  ListCursor cursor_{c_};
};

class PgPublished final : public PublishedSet {
 public:
  PgPublished(const std::string& conninfo, SQLite::Database& runs)
      : c_(conninfo, "reading what is published"), runs_(runs) {}

  std::optional<int> top_n() override {
    const auto v = column("top_n");
    if (!v) return std::nullopt;
    return static_cast<int>(*v);
  }
  std::optional<std::int64_t> run_id() override { return column("run_id"); }
  std::optional<std::int64_t> model_id() override { return column("model_id"); }

  std::optional<double> run_metric(const std::string& key) override {
    const auto run = run_id();
    if (!run) return std::nullopt;
    return translate_errors(runs_, [&]() -> std::optional<double> {
      SQLite::Statement q(runs_, "SELECT json_extract(metrics, ?) FROM runs WHERE run_id = ?");
      q.bind(1, "$.\"" + key + "\"");
      q.bind(2, *run);
      if (!q.executeStep() || q.getColumn(0).isNull()) return std::nullopt;
      return q.getColumn(0).getDouble();
    });
  }

  std::map<std::string, double> run_metrics() override {
    std::map<std::string, double> out;
    const auto run = run_id();
    if (!run) return out;
    return translate_errors(runs_, [&] {
      SQLite::Statement q(runs_,
                          "SELECT j.key, j.value FROM runs r, json_each(r.metrics) j "
                          "WHERE r.run_id = ? AND j.type IN ('integer', 'real')");
      q.bind(1, *run);
      while (q.executeStep()) out[q.getColumn(0).getString()] = q.getColumn(1).getDouble();
      return out;
    });
  }

 private:
  std::optional<std::int64_t> column(const std::string& name) {
    if (c_.exec("SELECT to_regclass('recs.publication') IS NULL").text(0, 0) == "t")
      return std::nullopt;
    const pg::Result r = c_.exec("SELECT " + name + " FROM recs.publication");
    if (r.rows() == 0) return std::nullopt;
    return r.optional_int64(0, 0);
  }

  pg::Connection c_;
  SQLite::Database& runs_;
};

class PgListLookup final : public ListLookup {
 public:
  explicit PgListLookup(const std::string& conninfo) : c_(conninfo, "reading the live set") {}
  int rows_of(std::int64_t user) override {
    return c_
        .exec("SELECT movie_id, score FROM recs.recommendations WHERE user_id = $1 ORDER BY rank",
              {std::to_string(user)})
        .rows();
  }

 private:
  pg::Connection c_;
};

}  // namespace

std::unique_ptr<LiveLists> postgres_live_lists(const PostgresOptions& options) {
  auto lists = std::make_unique<PgLiveLists>(options.conninfo);
  if (!lists->open()) return nullptr;
  return lists;
}

std::unique_ptr<ListStream> postgres_generation_lists(const PostgresOptions& options,
                                                      std::int64_t generation) {
  return std::make_unique<PgGenerationLists>(options.conninfo, generation);
}

std::unique_ptr<PublishedSet> postgres_published(const PostgresOptions& options,
                                                 SQLite::Database& runs) {
  return std::make_unique<PgPublished>(options.conninfo, runs);
}

ScoreHistogram postgres_score_histogram(const PostgresOptions& options, int bins) {
  pg::Connection c(options.conninfo, "reading the live generation's scores for the report");
  ScoreHistogram h;
  if (c.exec("SELECT to_regclass('recs.recommendations') IS NULL").text(0, 0) == "t") return h;
  const pg::Result range = c.exec("SELECT min(score), max(score) FROM recs.recommendations");
  if (range.rows() == 0 || range.null(0, 0)) return h;
  h.min = std::stod(range.text(0, 0));
  h.max = std::stod(range.text(0, 1));
  h.counts.assign(static_cast<std::size_t>(bins), 0);
  const double width = h.max > h.min ? (h.max - h.min) / bins : 1.0;
  const pg::Result r = c.exec(
      fmt::format("SELECT least(floor((score - {:.17g}) / {:.17g})::bigint, {}) AS bin, count(*) "
                  "FROM recs.recommendations GROUP BY bin",
                  h.min, width, bins - 1));
  for (int i = 0; i < r.rows(); ++i) {
    const auto bin = std::clamp<std::int64_t>(r.int64(i, 0), 0, bins - 1);
    h.counts[static_cast<std::size_t>(bin)] += r.int64(i, 1);
  }
  return h;
}

std::vector<std::int64_t> postgres_served_models(const PostgresOptions& options) {
  pg::Connection c(options.conninfo, "reading which models the server's generations serve");
  std::vector<std::int64_t> out;
  if (c.exec("SELECT to_regclass('recs_store.generations') IS NULL").text(0, 0) == "t") return out;
  const pg::Result r = c.exec(
      "SELECT DISTINCT model_id FROM recs_store.generations "
      "WHERE state <> 'retired' AND model_id IS NOT NULL ORDER BY model_id");
  for (int i = 0; i < r.rows(); ++i) out.push_back(r.int64(i, 0));
  return out;
}

std::unique_ptr<ListLookup> postgres_list_lookup(const std::string& conninfo) {
  return std::make_unique<PgListLookup>(conninfo);
}

std::unique_ptr<ServingGenerations> postgres_generations(const PostgresOptions& options) {
  return std::make_unique<PgGenerations>(options);
}

std::unique_ptr<GenerationPublisher> postgres_publisher(const PostgresOptions& options,
                                                        SQLite::Database& source,
                                                        std::optional<std::int64_t> model_id) {
  return std::make_unique<PgPublisher>(options, source, model_id);
}

}  // namespace recs::db
