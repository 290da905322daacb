#include "cli/cli.h"

#include <cstdint>
#include <iostream>

#include "app/predict.h"
#include "app/run.h"
#include "bench/publish.h"
#include "bench/readers.h"
#include "bench/score.h"
#include "cli/args.h"
#include "config/config.h"
#include "data/generate.h"
#include "db/database.h"
#include "util/error.h"
#include "util/log.h"

namespace recs {
namespace {

struct ConfigArgs {
  std::string file;
  std::vector<std::string> sets;
};

void add_config_args(cli::Command& cmd, ConfigArgs& args) {
  cmd.add_option("--config", args.file, "YAML config file (see config/example.yaml)").required();
  cmd.add_option("--set", args.sets,
                 "override a config key, e.g. --set score.top_n=20 (repeatable)");
}

Config load(const ConfigArgs& args) { return load_config(args.file, args.sets); }

}  // namespace

int run_cli(int argc, char** argv) {
  cli::Command app(
      "pipeline",
      "recs: a nightly batch job that turns user ratings into precomputed recommendations.\n"
      "Stages: import -> train -> score/publish; 'run' does them all.");
  app.set_version_flag("--version", std::string("pipeline ") + RECS_VERSION);
  bool quiet = false;
  app.add_flag("-q,--quiet", quiet, "log warnings and errors only");

  ConfigArgs run_args, import_args, train_args, score_args, predict_args, config_args;
  auto& run_cmd = app.add_subcommand("run", "the nightly job: import, train, score and publish");
  add_config_args(run_cmd, run_args);
  auto& import_cmd =
      app.add_subcommand("import", "load import.ratings (and import.movies) into the database");
  add_config_args(import_cmd, import_args);
  auto& train_cmd = app.add_subcommand("train", "train the configured model on the stored ratings");
  add_config_args(train_cmd, train_args);
  auto& score_cmd =
      app.add_subcommand("score", "score every user with the stored model and publish top-N");
  add_config_args(score_cmd, score_args);

  ConfigArgs evaluate_args;
  auto& evaluate_cmd = app.add_subcommand(
      "evaluate",
      "hold out ratings, train on the rest, report rating and ranking metrics beside the "
      "popularity baseline (one JSON line on stdout)");
  add_config_args(evaluate_cmd, evaluate_args);

  auto& predict_cmd = app.add_subcommand("predict", "print the stored model's score for pairs");
  add_config_args(predict_cmd, predict_args);
  std::int64_t predict_user = 0, predict_movie = 0;
  std::string pairs_file;
  auto& user_opt = predict_cmd.add_option("--user", predict_user, "external user id");
  auto& movie_opt = predict_cmd.add_option("--movie", predict_movie, "external movie id");
  auto& pairs_opt = predict_cmd.add_option("--pairs", pairs_file,
                                           "CSV of userId,movieId; writes userId,movieId,score");
  user_opt.needs(movie_opt);
  movie_opt.needs(user_opt);
  pairs_opt.excludes(user_opt).excludes(movie_opt);

  auto& config_cmd = app.add_subcommand(
      "config", "print the effective configuration, every key with its documented range");
  add_config_args(config_cmd, config_args);

  GenerateOptions gen;
  std::string gen_out;
  auto& gen_cmd =
      app.add_subcommand("generate", "write synthetic MovieLens-format ratings.csv and movies.csv");
  gen_cmd.add_option("--users", gen.users, "number of users").required();
  gen_cmd.add_option("--movies", gen.movies, "number of movies").required();
  gen_cmd.add_option("--ratings", gen.ratings, "number of ratings").required();
  gen_cmd.add_option("--out", gen_out, "output folder (created)").required();
  gen_cmd.add_option("--seed", gen.seed, "random seed").show_default();

  auto& bench_cmd = app.add_subcommand("bench", "benchmarks (figures as one JSON line on stdout)");
  ScoreBenchOptions sb;  // defaults: ML-25M size
  auto& bench_score_cmd = bench_cmd.add_subcommand(
      "score", "score random or stored vectors with the exact or ann top-N kernel");
  bench_score_cmd.add_option("--users", sb.users, "users").show_default();
  bench_score_cmd.add_option("--movies", sb.movies, "movies").show_default();
  bench_score_cmd.add_option("--factors", sb.factors, "vector length").show_default();
  bench_score_cmd.add_option("--top-n", sb.top_n, "recommendations per user").show_default();
  bench_score_cmd.add_option("--threads", sb.threads, "threads, 0 = all cores").show_default();
  bench_score_cmd.add_option("--seed", sb.seed, "random seed").show_default();
  bench_score_cmd
      .add_option("--rated-fraction", sb.rated_fraction,
                  "share of movies masked as already rated per user")
      .show_default();
  bench_score_cmd.add_option("--method", sb.method, "scoring kernel")
      .choices({"exact", "ann"})
      .show_default();
  bench_score_cmd.add_option("--nprobe", sb.nprobe,
                             "ann: clusters scanned per user (0 = the library default)");
  bench_score_cmd.add_option("--clusters", sb.clusters, "ann: clusters of the index (0 = auto)");
  bench_score_cmd.add_option("--vectors-from", sb.vectors_from,
                             "score the latest stored model's vectors in this database "
                             "(opened read-only) instead of random ones");
  bench_score_cmd.add_flag("--mask-rated", sb.mask_rated,
                           "with --vectors-from: mask the movies each user rated there");
  bench_score_cmd.add_option("--recall-sample", sb.recall_sample,
                             "ann: users the recall is measured on (0 = all, also timing a "
                             "full exact run)");

  PublishBenchOptions pb;
  std::string pb_dir;
  auto& bench_publish_cmd = bench_cmd.add_subcommand(
      "publish", "write synthetic top-N rows through the publish step, replacing a full set");
  bench_publish_cmd.add_option("--users", pb.users, "users").show_default();
  bench_publish_cmd.add_option("--movies", pb.movies, "movies").show_default();
  bench_publish_cmd.add_option("--top-n", pb.top_n, "rows per user").show_default();
  bench_publish_cmd.add_option("--seed", pb.seed, "random seed").show_default();
  bench_publish_cmd.add_option("--dir", pb_dir, "folder for the scratch database (default: temp)");

  ConfigArgs readers_args;
  ReadersBenchOptions rb;
  std::string rb_query = "sql/login.sql";
  auto& bench_readers_cmd = bench_cmd.add_subcommand(
      "readers",
      "reader processes run the login query while the score stage publishes; latency "
      "percentiles idle vs during the publish");
  add_config_args(bench_readers_cmd, readers_args);
  bench_readers_cmd.add_option("--readers", rb.readers, "reader processes").show_default();
  bench_readers_cmd.add_option("--idle-seconds", rb.idle_seconds, "idle window before the publish")
      .show_default();
  bench_readers_cmd.add_option("--query", rb_query, "the query file").show_default();

  const cli::Parsed args = app.parse(argc, argv);
  if (args.output) {  // --help or --version
    std::cout << *args.output;
    return 0;
  }
  if (quiet) log::set_level(log::Level::kWarn);

  if (args.selected(run_cmd)) {
    run_nightly(load(run_args));
    return 0;
  }
  if (args.selected(import_cmd)) {
    run_stage(Stage::kImport, load(import_args), std::cout);
    return 0;
  }
  if (args.selected(evaluate_cmd)) {
    run_stage(Stage::kEvaluate, load(evaluate_args), std::cout);
    return 0;
  }
  if (args.selected(train_cmd)) {
    run_stage(Stage::kTrain, load(train_args), std::cout);
    return 0;
  }
  if (args.selected(score_cmd)) {
    run_stage(Stage::kScore, load(score_args), std::cout);
    return 0;
  }
  if (args.selected(predict_cmd)) {
    Config config = load(predict_args);
    if (pairs_file.empty() && !args.has(user_opt)) {
      throw UsageError("predict needs --user and --movie, or --pairs FILE");
    }
    auto db = db::open_read_only(config.database);
    if (!pairs_file.empty()) {
      predict_pairs(*db, pairs_file, std::cout);
    } else {
      predict_one(*db, predict_user, predict_movie, std::cout);
    }
    return 0;
  }
  if (args.selected(config_cmd)) {
    Config config = load(config_args);
    std::cout << describe_config(config, true);
    return 0;
  }
  if (args.selected(gen_cmd)) {
    gen.out = gen_out;
    log::set_stage("generate");
    log::Stopwatch clock;
    GenerateSummary s = generate(gen);
    log::info("wrote {} ratings by {} users on {} movies to {} in {:.3f} s", s.ratings, s.users,
              s.movies, gen_out, clock.seconds());
    return 0;
  }
  if (args.selected(bench_readers_cmd)) {
    Config config = load(readers_args);
    log::set_stage("bench");
    rb.query = rb_query;
    std::cout << bench_readers(config, rb) << std::endl;
    return 0;
  }
  if (args.selected(bench_publish_cmd)) {
    log::set_stage("bench");
    pb.dir = pb_dir;
    std::cout << bench_publish(pb) << std::endl;
    return 0;
  }
  if (args.selected(bench_score_cmd)) {
    log::set_stage("bench");
    std::cout << bench_score(sb) << std::endl;
    return 0;
  }
  return 0;
}

}  // namespace recs
