#include "cli/cli.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "app/dry_run.h"
#include "app/evaluate.h"
#include "app/predict.h"
#include "app/report.h"
#include "app/rollback.h"
#include "app/run.h"
#include "app/serving.h"
#include "app/shard.h"
#include "app/sharded.h"
#include "bench/publish.h"
#include "bench/readers.h"
#include "bench/score.h"
#include "bench/shards.h"
#include "config/config.h"
#include "data/generate.h"
#include "db/database.h"
#include "util/error.h"
#include "util/log.h"

namespace recs {
namespace {

constexpr std::size_t kHelpColumn = 30;

// CLI11 reads integers with strtoll in base 0 ("010" is 8, " 4" and "0x10"
// pass, "-1" wraps into a uint64_t) and floats with strtold ("nan" passes).
// Numbers on this command line are plain decimals, in range and finite: this
// check runs on the text before CLI11 converts it, and rewrites integers in
// canonical decimal so CLI11's base-0 reading agrees with ours.
template <typename T>
CLI::Validator strict_number() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        T value{};
        const char* end = text.data() + text.size();
        auto [stop, ec] = std::from_chars(text.data(), end, value);
        if (ec == std::errc::result_out_of_range) return fmt::format("{} is out of range", text);
        bool finite = true;
        if constexpr (std::is_floating_point_v<T>) finite = std::isfinite(value);
        if (ec != std::errc() || stop != end || !finite) {
          const char* kind = std::is_floating_point_v<T> ? "a number"
                             : std::is_unsigned_v<T>     ? "a non-negative integer"
                                                         : "an integer";
          return fmt::format("expected {}, got '{}'", kind, text);
        }
        if constexpr (std::is_integral_v<T>) text = fmt::format("{}", value);
        return {};
      },
      "");
}

// An option bound to `target`; numbers are checked strictly (above).
template <typename T>
CLI::Option* add_option(CLI::App& cmd, const std::string& names, T& target,
                        const std::string& help) {
  CLI::Option* option = cmd.add_option(names, target, help);
  if constexpr (std::is_arithmetic_v<T>) option->transform(strict_number<T>());
  return option;
}

// A user or movie id: positive, as in the exports (checked after
// strict_number, so the text is a decimal integer).
CLI::Validator positive_id() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        if (!text.empty() && text[0] != '-' && text != "0") return {};
        return fmt::format("expected a positive id, got '{}'", text);
      },
      "");
}

// --model: one of the given kinds of ModelChoice ("published", "latest", an id).
CLI::Validator model_choice(std::vector<ModelChoice::Kind> kinds) {
  return CLI::Validator(
      [kinds](std::string& text) -> std::string {
        const std::optional<ModelChoice> choice = parse_model_choice(text);
        if (choice && std::find(kinds.begin(), kinds.end(), choice->kind) != kinds.end()) return {};
        std::vector<std::string> names;
        for (ModelChoice::Kind k : kinds) {
          names.push_back(k == ModelChoice::Kind::kPublished ? "published"
                          : k == ModelChoice::Kind::kLatest  ? "latest"
                                                             : "a model id");
        }
        return fmt::format("expected {}, got '{}'", fmt::join(names, " or "), text);
      },
      "");
}

struct ConfigArgs {
  std::string file;
  std::vector<std::string> sets;

  Config load() const { return load_config(file, sets); }
};

void add_config_args(CLI::App& cmd, ConfigArgs& args) {
  cmd.add_option("--config", args.file, "YAML config file (see config/example.yaml)")->required();
  cmd.add_option("--set", args.sets,
                 "override a config key, e.g. --set score.top_n=20 (repeatable)")
      ->allow_extra_args(false);  // one key=value per --set
}

// The deepest command the command line selected (the root when none).
const CLI::App& selected_command(const CLI::App& app) {
  const CLI::App* cur = &app;
  while (!cur->get_subcommands().empty()) cur = cur->get_subcommands().front();
  return *cur;
}

// "pipeline bench score".
std::string command_path(const CLI::App& app) {
  std::string path = app.get_name();
  for (const CLI::App* cur = &app; !cur->get_subcommands().empty();) {
    cur = cur->get_subcommands().front();
    path += " " + cur->get_name();
  }
  return path;
}

// CLI11's message, except that a missing or mistyped command word (CLI11:
// "A subcommand is required") lists the commands there are.
std::string usage_message(const CLI::App& app, const CLI::ParseError& e) {
  const CLI::App& last = selected_command(app);
  if (last.get_require_subcommand_min() == 0) return e.what();
  std::vector<std::string> names;
  for (const CLI::App* sub : last.get_subcommands([](const CLI::App*) { return true; })) {
    names.push_back(sub->get_name());
  }
  std::vector<std::string> extra = app.remaining(true);
  if (extra.empty()) return fmt::format("missing command: one of {}", fmt::join(names, ", "));
  if (extra.front().starts_with('-')) return fmt::format("unknown option {}", extra.front());
  return fmt::format("unknown command {}: one of {}", extra.front(), fmt::join(names, ", "));
}

// Global options may follow any command (CLI11's fallthrough hands options
// a command does not know to its parent); each command's help says so.
void note_global_options(CLI::App& cmd, const std::string& exit_codes) {
  for (CLI::App* sub : cmd.get_subcommands([](CLI::App*) { return true; })) {
    sub->footer(
        "Global options (-q,--quiet, -v,--verbose, --log-level, see pipeline --help) may also "
        "follow the command.\n\n" +
        exit_codes);
    note_global_options(*sub, exit_codes);
  }
}

// The exit codes (util/error.h), without the README's markdown quotes.
std::string exit_code_help() {
  std::string out = "Exit codes:";
  for (const ExitCodeMeaning& m : kExitCodeMeanings) {
    std::string meaning = m.meaning;
    std::erase(meaning, '`');
    out += fmt::format("\n  {}  {}", static_cast<int>(m.code), meaning);
  }
  return out;
}

// -q, -v and --log-level: at most one; the level they choose.
std::optional<log::Level> chosen_log_level(bool quiet, bool verbose, const std::string& level) {
  if (quiet + verbose + !level.empty() > 1) {
    throw UsageError(
        "-q, -v and --log-level choose the same thing; give one (see pipeline --help)");
  }
  if (quiet || level == "warn") return log::Level::kWarn;
  if (verbose || level == "debug") return log::Level::kDebug;
  if (level == "error") return log::Level::kError;
  if (level == "info") return log::Level::kInfo;
  return std::nullopt;
}

// The options of the commands that run as a recorded run.
struct RunFlags {
  bool json = false;
  bool dry_run = false;
};

void add_run_flags(CLI::App& cmd, RunFlags& flags) {
  cmd.add_flag("--json", flags.json,
               "print the run's summary on stdout as one JSON document (also when it fails)");
  cmd.add_flag("--dry-run", flags.dry_run,
               "check the config, the inputs and the database, write nothing, and exit with "
               "the code the run would");
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app(
      "recs: a nightly batch job that turns user ratings into precomputed recommendations.\n"
      "Stages: import -> train -> score/publish; 'run' does them all.",
      "pipeline");
  app.get_formatter()->column_width(kHelpColumn);
  app.fallthrough();  // before adding subcommands, which inherit it
  app.require_subcommand(1);
  app.set_version_flag("--version", fmt::format("pipeline {}", RECS_VERSION));
  app.footer(exit_code_help());
  bool quiet = false, verbose = false;
  std::string log_level;
  app.add_flag("-q,--quiet", quiet, "log warnings and errors only (= --log-level warn)");
  app.add_flag("-v,--verbose", verbose, "log debug lines too (= --log-level debug)");
  app.add_option("--log-level", log_level, "debug, info (the default), warn or error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));

  ConfigArgs run_args, import_args, train_args, score_args, publish_args, rollback_args,
      evaluate_args, predict_args, config_args;
  CLI::App* run_cmd =
      app.add_subcommand("run", "the nightly job: import, train, score and publish");
  add_config_args(*run_cmd, run_args);
  RunFlags run_flags, import_flags, train_flags, score_flags;
  add_run_flags(*run_cmd, run_flags);
  CLI::App* import_cmd =
      app.add_subcommand("import", "load import.ratings (and import.movies) into the database");
  add_config_args(*import_cmd, import_args);
  add_run_flags(*import_cmd, import_flags);
  CLI::App* train_cmd =
      app.add_subcommand("train", "train the configured model on the stored ratings");
  add_config_args(*train_cmd, train_args);
  add_run_flags(*train_cmd, train_flags);
  CLI::App* score_cmd =
      app.add_subcommand("score", "score every user with the newest model and publish top-N");
  add_config_args(*score_cmd, score_args);
  add_run_flags(*score_cmd, score_flags);
  std::string score_shard;
  CLI::Option* score_shard_opt = score_cmd->add_option(
      "--shard", score_shard,
      "score only shard I of N (I/N, 0 <= I < N) and stage it in serve.postgres; without it, "
      "SLURM_ARRAY_TASK_ID (an array job) selects the shard");
  int score_shards = 0;
  CLI::Option* score_shards_opt =
      add_option(*score_cmd, "--shards", score_shards,
                 "shard count N, the index from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job)");
  CLI::App* publish_cmd = app.add_subcommand(
      "publish", "score every user with a kept model and publish top-N, as score does");
  add_config_args(*publish_cmd, publish_args);
  std::string publish_model;
  publish_cmd
      ->add_option("--model", publish_model,
                   "the model to score and publish: a model id, or latest; without it, the "
                   "staged shards of the newest model (serve.postgres) go live")
      ->check(model_choice({ModelChoice::Kind::kLatest, ModelChoice::Kind::kId}));
  CLI::App* rollback_cmd = app.add_subcommand(
      "rollback",
      "make the previous published set live again (again: swap back); exit 8 when none is kept");
  add_config_args(*rollback_cmd, rollback_args);
  std::int64_t rollback_run = 0;
  CLI::Option* rollback_run_opt = add_option(
      *rollback_cmd, "--run", rollback_run,
      "restore the kept set this run published instead (keep.sets > 2 keeps older ones)");
  CLI::App* evaluate_cmd = app.add_subcommand(
      "evaluate",
      "hold out ratings, train on the rest, report rating and ranking metrics beside the "
      "popularity baseline (one JSON line on stdout)");
  add_config_args(*evaluate_cmd, evaluate_args);

  CLI::App* predict_cmd = app.add_subcommand(
      "predict", "print a stored model's score for pairs (the published model unless --model)");
  add_config_args(*predict_cmd, predict_args);
  std::int64_t predict_user = 0, predict_movie = 0;
  std::string pairs_file;
  CLI::Option* user_opt =
      add_option(*predict_cmd, "--user", predict_user, "external user id")->check(positive_id());
  CLI::Option* movie_opt =
      add_option(*predict_cmd, "--movie", predict_movie, "external movie id")->check(positive_id());
  CLI::Option* pairs_opt = add_option(*predict_cmd, "--pairs", pairs_file,
                                      "CSV of userId,movieId; writes userId,movieId,score");
  std::string predict_model = "published";
  predict_cmd
      ->add_option("--model", predict_model,
                   "published (the live set's model), latest, or a model id")
      ->capture_default_str()
      ->check(model_choice(
          {ModelChoice::Kind::kPublished, ModelChoice::Kind::kLatest, ModelChoice::Kind::kId}));
  user_opt->needs(movie_opt);
  movie_opt->needs(user_opt);
  pairs_opt->excludes(user_opt)->excludes(movie_opt);
  std::string on_unknown = "error";
  predict_cmd
      ->add_option("--on-unknown", on_unknown,
                   "with --pairs, a user or movie the model does not know: error (nothing "
                   "printed, exit 4), skip (row left out) or nan (score nan)")
      ->capture_default_str()
      ->check(CLI::IsMember({"error", "skip", "nan"}))
      ->needs(pairs_opt);

  ConfigArgs report_args;
  std::string report_out;
  ReportOptions report_options;
  CLI::App* report_cmd = app.add_subcommand(
      "report",
      "write one self-contained HTML page with SVG charts of the last runs: quality, stage "
      "times, training loss, churn, score distribution and the latest run's summary");
  add_config_args(*report_cmd, report_args);
  add_option(*report_cmd, "--out", report_out, "the HTML file to write")->required();
  add_option(*report_cmd, "--runs", report_options.runs, "the last runs shown")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));

  CLI::App* config_cmd = app.add_subcommand(
      "config", "print the effective configuration, every key with its documented range");
  add_config_args(*config_cmd, config_args);

  GenerateOptions gen;
  std::string gen_out;
  CLI::App* gen_cmd =
      app.add_subcommand("generate", "write synthetic MovieLens-format ratings.csv and movies.csv");
  add_option(*gen_cmd, "--users", gen.users, "number of users")->required();
  add_option(*gen_cmd, "--movies", gen.movies, "number of movies")->required();
  add_option(*gen_cmd, "--ratings", gen.ratings, "number of ratings")->required();
  add_option(*gen_cmd, "--out", gen_out, "output folder (created)")->required();
  add_option(*gen_cmd, "--seed", gen.seed, "random seed")->capture_default_str();

  CLI::App* bench_cmd =
      app.add_subcommand("bench", "benchmarks (figures as one JSON line on stdout)");
  bench_cmd->require_subcommand(1);
  ScoreBenchOptions sb;  // defaults: ML-25M size
  CLI::App* bench_score_cmd = bench_cmd->add_subcommand(
      "score", "score random or stored vectors with the exact or ann top-N kernel");
  add_option(*bench_score_cmd, "--users", sb.users, "users")->capture_default_str();
  add_option(*bench_score_cmd, "--movies", sb.movies, "movies")->capture_default_str();
  add_option(*bench_score_cmd, "--factors", sb.factors, "vector length")->capture_default_str();
  add_option(*bench_score_cmd, "--top-n", sb.top_n, "recommendations per user")
      ->capture_default_str();
  add_option(*bench_score_cmd, "--threads", sb.threads, "threads, 0 = all cores")
      ->capture_default_str();
  add_option(*bench_score_cmd, "--seed", sb.seed, "random seed")->capture_default_str();
  add_option(*bench_score_cmd, "--rated-fraction", sb.rated_fraction,
             "share of movies masked as already rated per user")
      ->capture_default_str();
  add_option(*bench_score_cmd, "--method", sb.method, "scoring kernel")
      ->check(CLI::IsMember({"exact", "ann"}))
      ->capture_default_str();
  add_option(*bench_score_cmd, "--nprobe", sb.nprobe,
             "ann: clusters scanned per user (0 = the library default)");
  add_option(*bench_score_cmd, "--clusters", sb.clusters, "ann: clusters of the index (0 = auto)");
  add_option(*bench_score_cmd, "--vectors-from", sb.vectors_from,
             "score the latest stored model's vectors in this database (opened read-only) "
             "instead of random ones");
  bench_score_cmd->add_flag("--mask-rated", sb.mask_rated,
                            "with --vectors-from: mask the movies each user rated there");
  add_option(*bench_score_cmd, "--recall-sample", sb.recall_sample,
             "ann: users the recall is measured on (0 = all, also timing a full exact run)");
  bench_score_cmd->add_flag("--plain", sb.plain,
                            "exact: score every pair (no norm pruning), the previous kernel");
  bench_score_cmd->add_flag("--compare-plain", sb.compare_plain,
                            "exact: then run the plain kernel on the same vectors, timing it and "
                            "counting users whose lists differ");
  bench_score_cmd->add_flag("--explain", sb.explain,
                            "exact, with --mask-rated: then explain every list with the stored "
                            "ratings, bounded as the score stage does and over every liked movie, "
                            "timing both");
  add_option(*bench_score_cmd, "--similar", sb.similar,
             "> 0: time similar movies instead, top this many per movie among all movies, by the "
             "angular bound (--plain: every pair; --compare-plain: both, alternating)");
  add_option(*bench_score_cmd, "--rounds", sb.rounds,
             "--similar: rounds (each pruned then plain with --compare-plain)")
      ->capture_default_str();

  PublishBenchOptions pb;
  std::string pb_dir;
  CLI::App* bench_publish_cmd = bench_cmd->add_subcommand(
      "publish", "write synthetic top-N rows through the publish step, replacing a full set");
  add_option(*bench_publish_cmd, "--users", pb.users, "users")->capture_default_str();
  add_option(*bench_publish_cmd, "--movies", pb.movies, "movies")->capture_default_str();
  add_option(*bench_publish_cmd, "--top-n", pb.top_n, "rows per user")->capture_default_str();
  add_option(*bench_publish_cmd, "--seed", pb.seed, "random seed")->capture_default_str();
  add_option(*bench_publish_cmd, "--keep-sets", pb.keep_sets,
             "as keep.sets: 1 deletes the old set, 2 or more keep it (then a rollback is timed)")
      ->capture_default_str();
  add_option(*bench_publish_cmd, "--dir", pb_dir,
             "folder for the scratch database (default: temp)");
  add_option(*bench_publish_cmd, "--postgres", pb.postgres,
             "libpq connection string: also publish into that PostgreSQL server, side by side "
             "with SQLite, a reader looping during each");
  add_option(*bench_publish_cmd, "--ratings", pb.ratings,
             "with --postgres: ratings in the scratch catalog, copied as the rated movies "
             "(ML-25M: 25000095)")
      ->capture_default_str();

  ConfigArgs readers_args;
  ReadersBenchOptions rb;
  std::string rb_query = "sql/login.sql";
  CLI::App* bench_readers_cmd = bench_cmd->add_subcommand(
      "readers",
      "reader processes run the login query while the score stage publishes; latency "
      "percentiles idle vs during the publish");
  add_config_args(*bench_readers_cmd, readers_args);
  add_option(*bench_readers_cmd, "--readers", rb.readers, "reader processes")
      ->capture_default_str();
  add_option(*bench_readers_cmd, "--idle-seconds", rb.idle_seconds,
             "idle window before the publish")
      ->capture_default_str();
  add_option(*bench_readers_cmd, "--query", rb_query, "the query file")->capture_default_str();
  ConfigArgs shards_args;
  ShardsBenchOptions shb;
  CLI::App* bench_shards_cmd = bench_cmd->add_subcommand(
      "shards",
      "run the score stage as N local shard processes at once, then publish (needs "
      "serve.postgres and a trained model); wall time and peak memory per shard");
  add_config_args(*bench_shards_cmd, shards_args);
  add_option(*bench_shards_cmd, "--shards", shb.shards, "shard counts to run, e.g. 1,2,4")
      ->delimiter(',')
      ->capture_default_str();
  note_global_options(app, exit_code_help());

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version: printed on stdout, exit 0.
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    throw UsageError(fmt::format("{} (see {} --help)", usage_message(app, e), command_path(app)));
  }
  if (auto level = chosen_log_level(quiet, verbose, log_level)) log::set_level(*level);
  // A recorded run, or with --dry-run its checks; --json: the result on stdout.
  auto recorded = [](std::optional<Stage> stage, const ConfigArgs& args, const RunFlags& flags) {
    Config config = args.load();
    std::ostream* json = flags.json ? &std::cout : nullptr;
    if (flags.dry_run) {
      dry_run(config, stage, json);
    } else if (stage) {
      run_stage(*stage, config, json);
    } else {
      run_nightly(config, json);
    }
  };

  if (run_cmd->parsed()) {
    recorded(std::nullopt, run_args, run_flags);
  } else if (import_cmd->parsed()) {
    recorded(Stage::kImport, import_args, import_flags);
  } else if (evaluate_cmd->parsed()) {
    Config config = evaluate_args.load();
    log::set_stage("evaluate");
    evaluate_database(config, std::cout);
  } else if (train_cmd->parsed()) {
    recorded(Stage::kTrain, train_args, train_flags);
  } else if (score_cmd->parsed()) {
    const std::optional<ShardSpec> shard = resolve_shard(
        score_shard_opt->count() ? std::optional(score_shard) : std::nullopt,
        score_shards_opt->count() ? std::optional(score_shards) : std::nullopt, process_env());
    if (shard) {
      if (score_flags.json || score_flags.dry_run) {
        throw UsageError("score: --json and --dry-run do not apply to a shard");
      }
      run_shard_stage(score_args.load(), *shard);
    } else {
      recorded(Stage::kScore, score_args, score_flags);
    }
  } else if (publish_cmd->parsed() && publish_model.empty()) {
    run_publish_staged(publish_args.load());
  } else if (publish_cmd->parsed()) {
    const ModelChoice choice = *parse_model_choice(publish_model);
    run_publish(publish_args.load(),
                choice.kind == ModelChoice::Kind::kId ? std::optional(choice.id) : std::nullopt);
  } else if (rollback_cmd->parsed()) {
    run_rollback(rollback_args.load(),
                 rollback_run_opt->count() ? std::optional(rollback_run) : std::nullopt);
  } else if (predict_cmd->parsed()) {
    Config config = predict_args.load();
    if (pairs_file.empty() && user_opt->count() == 0) {
      throw UsageError(
          "predict needs --user and --movie, or --pairs FILE (see pipeline predict --help)");
    }
    log::set_stage("predict");
    auto db = db::open_read_only(config.database);
    const auto live = live_publication(config, *db);
    db::StoredModel model = choose_model(*db, *live, *parse_model_choice(predict_model));
    // A user who rated after training is scored as score folds them in.
    const PairIds asked =
        !pairs_file.empty() ? ids_in_pairs(pairs_file) : PairIds{{predict_user}, {predict_movie}};
    model = with_folded_in_users(*db, config, std::move(model), asked.users);
    warn_removed_movies(*db, model, asked.movies);
    if (!pairs_file.empty()) {
      predict_pairs(model, pairs_file, std::cout, *parse_on_unknown(on_unknown));
    } else {
      predict_one(model, predict_user, predict_movie, std::cout);
    }
  } else if (report_cmd->parsed()) {
    Config config = report_args.load();
    log::set_stage("report");
    write_report(config, report_out, report_options);
  } else if (config_cmd->parsed()) {
    // Valid means what `run` accepts before it starts: the same checks.
    Config config = config_args.load();
    check_run_config(config);
    std::cout << describe_config(config, true);
  } else if (gen_cmd->parsed()) {
    gen.out = gen_out;
    log::set_stage("generate");
    log::Stopwatch clock;
    GenerateSummary s = generate(gen);
    log::info("wrote {} ratings by {} users on {} movies to {} in {:.3f} s", s.ratings, s.users,
              s.movies, gen_out, clock.seconds());
  } else if (bench_readers_cmd->parsed()) {
    Config config = readers_args.load();
    log::set_stage("bench");
    rb.query = rb_query;
    std::cout << bench_readers(config, rb) << std::endl;
  } else if (bench_shards_cmd->parsed()) {
    const Config config = shards_args.load();  // checks the file before the processes start
    require_shard_store(config, "bench shards");
    log::set_stage("bench");
    shb.config = shards_args.file;
    shb.sets = shards_args.sets;
    std::cout << bench_shards(shb) << std::endl;
  } else if (bench_publish_cmd->parsed()) {
    log::set_stage("bench");
    pb.dir = pb_dir;
    std::cout << bench_publish(pb) << std::endl;
  } else if (bench_score_cmd->parsed()) {
    log::set_stage("bench");
    std::cout << bench_score(sb) << std::endl;
  }
  return 0;
}

}  // namespace recs
