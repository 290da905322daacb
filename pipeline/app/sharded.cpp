#include "app/sharded.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "app/evaluate.h"
#include "app/gate.h"
#include "app/run.h"
#include "app/score.h"
#include "cluster/popular.h"
#include "db/database.h"
#include "db/postgres.h"
#include "db/sqlite.h"
#include "util/error.h"
#include "util/json.h"
#include "util/log.h"

namespace recs {
namespace {

db::PostgresOptions postgres_options(const Config& config) {
  return {config.serve.postgres, config.serve.reader_role};
}

// A shard's part of a generation: the lists stream into the part, its
// clusters and counts go with them at commit().
class GenerationShardWriter final : public db::ShardWriter {
 public:
  // `plans`: a connection of its own for the generation's ann plan (the
  // part's connection is inside its COPY).
  GenerationShardWriter(std::unique_ptr<db::PartWriter> part, int shards,
                        std::unique_ptr<db::ServingGenerations> plans, std::int64_t generation)
      : part_(std::move(part)),
        shards_(shards),
        plans_(std::move(plans)),
        generation_(generation) {}

  db::StoredAnnPlan shared_ann_plan(const db::AnnPlanCompute& compute) override {
    return plans_->shared_ann_plan(generation_, compute);
  }

  bool add(const TopNBlock& block, const std::vector<std::int64_t>& user_ids,
           const std::vector<std::int64_t>& movie_ids,
           std::span<const std::int64_t> because) override {
    return part_->add(block, user_ids, movie_ids, because);
  }
  void add_user_clusters(const ClusterRows& users) override { users_ = users; }
  void add_cluster_counts(const std::vector<ClusterMovieCount>& counts) override {
    counts_ = counts;
  }
  void commit() override {
    part_->set_shard(shards_, users_, counts_);
    part_->commit();
  }
  std::int64_t rows() const override { return part_->rows(); }
  std::int64_t users() const override { return part_->users(); }

 private:
  std::unique_ptr<db::PartWriter> part_;
  int shards_;
  std::unique_ptr<db::ServingGenerations> plans_;
  std::int64_t generation_;
  ClusterRows users_;
  std::vector<ClusterMovieCount> counts_;
};

std::string shard_list(const std::vector<int>& shards, int count) {
  std::vector<std::string> names;
  for (int s : shards) names.push_back(fmt::format("{}/{}", s, count));
  return fmt::format("{}", fmt::join(names, ", "));
}

// The top_n a generation's lists were scored with, which its publication
// records: the shards' own (their latest successful runs), all alike, or
// the publish config's for shards run before they recorded it.
int shards_top_n(const Config& config, const std::map<int, int>& by_shard, std::int64_t g) {
  std::map<int, std::vector<int>> shards_of;
  for (const auto& [shard, top_n] : by_shard) shards_of[top_n].push_back(shard);
  if (shards_of.size() > 1) {
    std::vector<std::string> each;
    for (const auto& [top_n, shards] : shards_of) {
      each.push_back(fmt::format("{} {} with {}", shards.size() == 1 ? "shard" : "shards",
                                 fmt::join(shards, ", "), top_n));
    }
    throw ConfigError(fmt::format(
        "generation {}: its shards were scored with different score.top_n ({}); score every "
        "shard again with one config; nothing published, the live set stays in place",
        g, fmt::join(each, "; ")));
  }
  if (shards_of.empty()) return config.score.top_n;
  const int top_n = shards_of.begin()->first;
  if (top_n != config.score.top_n) {
    log::warn(
        "generation {}: its shards were scored with score.top_n {}, not this config's {}; "
        "the publication records {}",
        g, top_n, config.score.top_n, top_n);
  }
  return top_n;
}

}  // namespace

void require_shard_store(const Config& config, const char* what) {
  if (!config.serve.postgres.empty()) return;
  throw ConfigError(config.where("serve.postgres") + ": is not set; " + what +
                    " needs a PostgreSQL server every shard can reach (serve.postgres: "
                    "<libpq connection string>)");
}

void run_shard_stage(const Config& config, const ShardSpec& spec) {
  log::set_stage("score");
  require_shard_store(config, "sharded scoring (--shard, --shards, SLURM_ARRAY_TASK_ID)");
  check_database_path(config);
  // The shard's run is recorded on the PostgreSQL server: the shards of a
  // night run at once, on many machines, and open the SQLite file
  // read-only (no run lock, no run row there).
  auto generations = db::postgres_generations(postgres_options(config));
  char host[256] = "";
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  const std::int64_t run_id =
      generations->start_shard_run(spec.index, spec.count, host, describe_config(config, false));
  log::info("shard {}: recorded as shard run {} (recs_store.shard_runs)", spec.label(), run_id);
  log::Stopwatch clock;
  db::ServingGenerations::ShardRunEnd end;
  JsonObject counts, timings, metrics;
  counts.add("shard", spec.index).add("shards", spec.count);
  auto finish = [&](const std::string& status, const std::string& message) noexcept {
    try {
      timings.add("score", clock.seconds());
      end.status = status;
      end.message = message;
      end.counts = counts.str();
      end.timings = timings.str();
      end.metrics = metrics.str();
      generations->end_shard_run(run_id, end);
    } catch (const std::exception& e) {
      log::warn("shard {}: could not record the end of shard run {}: {}", spec.label(), run_id,
                e.what());
    }
  };
  try {
    auto db = db::open_read_only(config.database);
    const ShardScoreSummary s =
        run_score_shard(*db, config, spec, [&](const db::StoredModel& model) {
          const std::int64_t g = *generations->shard_generation(model.model_id, spec.count, true);
          end.model_id = model.model_id;
          end.generation = g;
          log::info("shard {}: staging into generation {} (model {})", spec.label(), g,
                    model.model_id);
          return std::make_unique<GenerationShardWriter>(
              generations->stage_part(g, spec.index), spec.count,
              db::postgres_generations(postgres_options(config)), g);
        });
    log::info(
        "shard {}: done: {} users scored ({} with rows, {} folded in, {} without signal), "
        "{} rows; load {:.3f} s, score and stage {:.3f} s",
        spec.label(), s.users, s.users_published, s.folded_in, s.without_signal, s.rows,
        s.load_seconds, s.seconds);
    counts.add("users_scored", s.users)
        .add("users_published", s.users_published)
        .add("recommendations", s.rows)
        .add("users_folded_in", s.folded_in)
        .add("users_without_signal", s.without_signal)
        .add("first_user", s.span.first)
        .add("last_user", s.span.last)
        .add("top_n", config.score.top_n);  // what publish records for the generation
    timings.add("score_load", s.load_seconds).add("score_stage", s.seconds);
    if (config.clusters.enabled) timings.add("clusters", s.cluster_seconds);
    if (s.ann.used) {
      counts.add("ann_nprobe", s.ann.nprobe).add("ann_clusters", s.ann.clusters);
      if (s.ann.recall) {
        metrics.add("ann_recall", *s.ann.recall)
            .add("ann_recall_low", s.ann.recall_low.value_or(*s.ann.recall));
        counts.add("ann_sample_users", s.ann.sample_users);
      }
      if (!s.ann.shared) timings.add("ann_plan", s.ann.seconds);
    }
    finish("succeeded", "");
  } catch (const Error& e) {
    // As the recorded stages do: bad input or configuration found once the
    // run started is a refusal, anything else a failure.
    const bool refused = e.code() == ExitCode::kInput || e.code() == ExitCode::kConfig;
    finish(refused ? "refused" : "failed", e.what());
    throw;
  } catch (const std::exception& e) {
    finish("failed", e.what());
    throw;
  }
}

namespace {

// Feeds every list of `lists` (external movie ids) to `changes`, one user at
// a time, in the candidates' index space (`candidate_ids` ascending).
void measure_lists(db::ListStream& lists, const std::vector<std::int64_t>& candidate_ids,
                   eval::PublicationChanges& changes) {
  std::vector<std::int64_t> user(1), movies;
  TopNBlock one;
  one.user_end = 1;
  one.counts.resize(1);
  while (lists.next(user[0], movies)) {
    one.items.clear();
    for (const std::int64_t m : movies) {
      const auto it = std::lower_bound(candidate_ids.begin(), candidate_ids.end(), m);
      if (it != candidate_ids.end() && *it == m) {
        one.items.push_back(static_cast<std::int32_t>(it - candidate_ids.begin()));
      }
    }
    one.top_n = static_cast<int>(one.items.size());
    one.counts[0] = one.top_n;
    changes.add(one, user, candidate_ids);
  }
}

}  // namespace

void run_publish_staged(const Config& config) {
  log::set_stage("publish");
  require_shard_store(config, "publish without --model");
  recorded_run(
      config, "publish", [&](SQLite::Database& db, db::RunRecord& run, RunSummary& summary) {
        log::Stopwatch total;
        const db::StoredModel model = db::sqlite_models(db)->latest();
        auto generations = db::postgres_generations(postgres_options(config));
        const std::vector<db::StagedPart> parts = generations->staged_parts();
        // The newest generation staged from this model.
        std::optional<std::int64_t> g;
        for (const db::StagedPart& p : parts) {
          if (p.model_id == model.model_id) g = std::max(g.value_or(0), p.generation);
        }
        auto others = [&](int shard) {
          std::set<std::int64_t> models;
          for (const db::StagedPart& p : parts) {
            if (p.model_id != model.model_id && (shard < 0 || p.shard == shard)) {
              models.insert(p.model_id);
            }
          }
          return models.empty()
                     ? std::string()
                     : fmt::format(" (staged from model {} instead)", fmt::join(models, ", "));
        };
        if (!g) {
          throw NotFoundError(fmt::format(
              "no shard is staged from model {} (the newest){}; run pipeline score --shard I/N for "
              "every shard first; the live set stays in place",
              model.model_id, others(-1)));
        }
        int count = 0;
        std::set<int> staged;
        db::StagedPart totals;
        for (const db::StagedPart& p : parts) {
          if (p.generation != *g) continue;
          count = p.shards;
          staged.insert(p.shard);
          totals.users += p.users;
          totals.rows += p.rows;
        }
        std::vector<int> missing;
        for (int i = 0; i < count; ++i) {
          if (!staged.count(i)) missing.push_back(i);
        }
        if (!missing.empty()) {
          throw NotFoundError(fmt::format(
              "generation {} of model {} is incomplete: shard {} {} not staged{}; nothing "
              "published, "
              "the live set stays in place",
              *g, model.model_id, shard_list(missing, count), missing.size() == 1 ? "is" : "are",
              others(missing.size() == 1 ? missing.front() : -1)));
        }
        log::info("generation {}: all {} shards of model {} staged ({} rows for {} users)", *g,
                  count, model.model_id, totals.rows, totals.users);
        const int top_n = shards_top_n(config, generations->shard_top_ns(*g), *g);
        // The quality gate, as pipeline run keeps it (evaluate.in_run): the
        // configured model evaluated on a hold-out split, fitted from its
        // own seed on the training part only, against the popularity
        // baseline and the live set's run; a refusal (exit 6) leaves the
        // live set in place.
        if (config.evaluate.in_run) {
          log::set_stage("evaluate");
          std::ostringstream ignored;  // stdout carries only requested results
          const EvalSummary evaluation = run_evaluate(db, config, run, ignored);
          summary.gate = judge_quality_gate(db, config, evaluation.result);
          enforce_quality_gate(*summary.gate, run);
          log::set_stage("publish");
        }
        run.count("postgres_generation", *g);
        run.count("shards", count);
        log::Stopwatch publishing;  // timings.publish: the work after the gate

        // The movie side, once per generation.
        const MovieSide side = movie_side(db, config, model);
        generations->stage_catalog(*g, db);
        bool finite = true;
        if (config.similar.enabled) {
          finite &=
              generations->stage_similar(*g, side.similar, model.movie_ids, side.candidate_ids);
          run.timing("similar", side.similar_seconds);
        }
        if (!finite) throw GateError("similar-movie scores are not finite; refusing to publish");
        std::int64_t clustered = 0;
        if (config.clusters.enabled) {
          ClusterRows users;
          std::vector<ClusterMovieCount> counts;
          generations->staged_clusters(*g, users, counts);
          clustered = static_cast<std::int64_t>(users.ids.size());
          generations->stage_clusters(*g, users, side.movie_clusters,
                                      rank_cluster_counts(merge_cluster_counts(std::move(counts)),
                                                          config.clusters.popular_n));
          run.timing("clusters", side.cluster_seconds);
        }
        // Churn and coverage as a one-process publish measures them: the
        // staged lists read back against the live ones. Both readers'
        // transactions end before the make-live (dropping old generations
        // waits for them).
        ScoreSummary s;
        {
          const db::PostgresOptions options = postgres_options(config);
          auto live_lists = db::postgres_live_lists(options);
          eval::PublicationChanges::PreviousLists previous;
          if (live_lists) {
            previous = [&](std::int64_t user, auto& out) { live_lists->list_of(user, out); };
          }
          eval::PublicationChanges changes(side.candidate_ids.size(), std::move(previous));
          measure_lists(*db::postgres_generation_lists(options, *g), side.candidate_ids, changes);
          take_changes(changes, s);
        }
        const db::LiveSwitch live = generations->make_live(*g, run.id(), top_n, side.extras);
        log::info(
            "generation {} is live on the PostgreSQL server{}: {} recommendations for {} users "
            "from {} shards of model {}",
            live.generation,
            live.previous ? fmt::format(" (generation {} kept as the previous)", *live.previous)
                          : std::string(),
            live.rows, live.users, count, model.model_id);
        for (std::int64_t old : live.dropped) log::info("dropped generation {}", old);
        s.rows = live.rows;
        s.users = live.users;
        s.users_published = live.users;
        s.model_id = model.model_id;
        s.model_type = model.type;
        s.candidate_movies = static_cast<std::int64_t>(side.candidate_ids.size());
        s.seconds = total.seconds();
        summary.publish = s;
        run.model_type(model.type);
        run.count("published_model_id", model.model_id);
        run.count("recommendations", live.rows);
        run.count("users_scored", live.users);
        run.count("candidate_movies", s.candidate_movies);
        record_changes(s, run);
        if (config.clusters.enabled) run.count("users_clustered", clustered);
        run.timing("publish", publishing.seconds());
      });
}

}  // namespace recs
