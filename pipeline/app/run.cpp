#include "app/run.h"

#include <exception>
#include <optional>
#include <sstream>
#include <string>

#include "app/evaluate.h"
#include "app/gate.h"
#include "app/import.h"
#include "app/score.h"
#include "app/train.h"
#include "db/database.h"
#include "eval/evaluate.h"
#include "util/error.h"
#include "util/json.h"
#include "util/log.h"

namespace recs {
namespace {

// Bad input or configuration found once the run started: the stage that
// found it wrote nothing.
bool is_refusal(const Error& e) {
  return e.code() == ExitCode::kInput || e.code() == ExitCode::kConfig;
}

// The closing paragraph and its figures in the run's row (unless `record`
// is off: they were given already), and with `json` the result document.
// Never throws: it also runs while an error propagates.
void close_run(db::RunRecord& run, const RunSummary& summary, std::string_view command,
               std::string_view status, const log::Stopwatch& clock, std::ostream* json,
               ExitCode code = ExitCode::kOk, std::string_view message = {},
               bool record = true) noexcept {
  try {
    const std::string figures = summary_json(summary);
    if (record) {
      run.summary(figures);
      log::info(summary_paragraph(summary, status, clock.seconds(), command));
    }
    if (json) {
      *json << run_result_json(run.id(), command, status, static_cast<int>(code), clock.seconds(),
                               message, figures)
            << std::endl;
    }
  } catch (const std::exception& e) {
    log::warn("could not write the run's summary: {}", e.what());
  }
}

}  // namespace

std::string run_result_json(std::int64_t run_id, std::string_view command, std::string_view status,
                            int exit_code, double seconds, std::string_view message,
                            const std::string& summary) {
  JsonObject o;
  o.add("run_id", run_id).add("command", command).add("status", status);
  o.add("exit_code", exit_code).add("seconds", seconds);
  if (message.empty()) {
    o.add_raw("message", "null");
  } else {
    o.add("message", message);
  }
  return o.add_raw("summary", summary).str();
}

void recorded_run(const Config& config, std::string_view command, std::ostream* json,
                  const RunBody& body) {
  check_database_path(config);
  db::RunLock lock(config.database);
  auto database = db::open(config.database);
  log::Stopwatch clock;
  // SQLite's own exceptions name no file: the database's path goes first.
  auto database_error = [&](const SQLite::Exception& e) {
    return DatabaseError(config.database.string() + ": " + e.what());
  };
  std::optional<db::RunRecord> recorded;
  try {
    recorded.emplace(*database, std::string(command), describe_config(config, false));
    log::set_run(recorded->id());  // the run's row is written here
  } catch (const SQLite::Exception& e) {
    throw database_error(e);
  }
  db::RunRecord& run = *recorded;
  log::info("{} on {}", command, config.database.string());
  RunSummary summary;
  try {
    body(*database, run, summary);
  } catch (const Error& e) {
    const bool refused = is_refusal(e);
    run.timing("total", clock.seconds());
    close_run(run, summary, command, refused ? "refused" : "failed", clock, json, e.code(),
              e.what());
    if (refused) {
      run.refuse(e.what());
    } else {
      run.fail(e.what());
    }
    throw;
  } catch (const std::exception& e) {
    // main() maps the rest as it does; SQLite's own are database errors.
    const auto* sqlite = dynamic_cast<const SQLite::Exception*>(&e);
    const ExitCode code = sqlite ? ExitCode::kDatabase : ExitCode::kInternal;
    const std::string message = sqlite ? database_error(*sqlite).what() : e.what();
    run.timing("total", clock.seconds());
    close_run(run, summary, command, "failed", clock, json, code, message);
    run.fail(message);
    if (sqlite) throw database_error(*sqlite);
    throw;
  }
  // The body's work is committed. A closing checkpoint that fails (the disk
  // full as the main file grows) loses nothing: the next run's copies the
  // rest.
  log::Stopwatch checkpoint;
  try {
    db::checkpoint(*database);
    run.timing("checkpoint", checkpoint.seconds());
  } catch (const SQLite::Exception& e) {
    log::warn("{}: the closing checkpoint failed: {}; the next run's checkpoint copies the rest",
              config.database.string(), e.what());
  }
  run.timing("total", clock.seconds());  // every recorded command's, as the report shows
  close_run(run, summary, command, "succeeded", clock, nullptr);
  try {
    run.succeed();
  } catch (const std::exception& e) {
    // Only the run's own row could not be written: say what was done.
    const std::string message = config.database.string() + ": the " + std::string(command) +
                                "'s work is committed, but the run history could not record it "
                                "as succeeded: " +
                                e.what();
    run.fail(message);
    close_run(run, summary, command, "failed", clock, json, ExitCode::kDatabase, message, false);
    throw DatabaseError(message);
  }
  close_run(run, summary, command, "succeeded", clock, json, ExitCode::kOk, {}, false);
}

void run_nightly(const Config& config, std::ostream* json) {
  log::set_stage("run");
  const RunBody nightly = [&](SQLite::Database& db, db::RunRecord& run, RunSummary& summary) {
    log::Stopwatch clock;
    log::set_stage("import");
    check_import_inputs(config);
    ImportedRows imported;
    imported.rated_at = config.evaluate.in_run && eval::needs_timestamps(config.evaluate);
    summary.import = run_import(db, config, run, &imported);
    run.save();
    db::release_cache(db);
    // A first import leaves hundreds of megabytes in the WAL: copied into
    // the database file while the CPU-bound stages run, not at the end.
    db::BackgroundCheckpoint import_pages(config.database);
    // The ratings are read once and serve every later stage: the run holds
    // the lock, so they cannot change after the import. An import that
    // streamed the file in key order kept them; otherwise they are read back.
    log::Stopwatch load;
    eval::EvalData data;
    if (imported.kept) {
      data.ratings = imported_ratings(std::move(imported.rows), db, config, &data.raw,
                                      imported.rated_at ? &data.rated_at : nullptr);
    } else if (config.evaluate.in_run) {
      data = load_eval_ratings(db, config);
    } else {
      data.ratings = load_ratings(db, config, &data.raw);
    }
    run.timing("run_load", load.seconds());
    Factors warm;  // the evaluated model's vectors, fitted on the training part only
    if (config.evaluate.in_run) {
      log::set_stage("evaluate");
      std::ostringstream ignored;  // stdout carries only requested results
      EvalSummary evaluation = run_evaluate(db, config, run, ignored, &data);
      summary.gate = judge_quality_gate(db, config, evaluation.result);
      enforce_quality_gate(*summary.gate, run);
      if (config.train.warm_start) warm = std::move(evaluation.result.factors);
      data.rated_at = {};  // only the split needed it
      data.rated_at.shrink_to_fit();
    }
    // The published model may start where the gated one ended (never the
    // other way round: the gated model starts from its own seed, so it never
    // sees the held-out ratings through another model's vectors).
    log::set_stage("train");
    summary.train =
        run_train(db, config, run, &data.ratings, warm.users.size() > 0 ? &warm : nullptr);
    warm = Factors{};
    log::set_stage("score");
    // Freed once the score stage has built its audience from them, before
    // it scores and publishes (500 MB at ML-25M size).
    const LoadedRatings loaded{&data.ratings, &data.raw, [&data] { data = eval::EvalData{}; }};
    summary.publish = run_score(db, config, run, std::nullopt, &loaded);
    run.timing("import_checkpoint", import_pages.wait());
    log::set_stage("run");
    log::info("done in {:.3f} s", clock.seconds());
  };
  recorded_run(config, "run", json, nightly);
}

std::string_view stage_name(Stage stage) {
  switch (stage) {
    case Stage::kImport:
      return "import";
    case Stage::kTrain:
      return "train";
    case Stage::kScore:
      return "score";
  }
  throw Error(ExitCode::kInternal, "unknown stage");
}

void run_stage(Stage stage, const Config& config, std::ostream* json) {
  const std::string_view name = stage_name(stage);
  log::set_stage(name);
  const RunBody one_stage = [&](SQLite::Database& db, db::RunRecord& run, RunSummary& summary) {
    switch (stage) {
      case Stage::kImport:
        check_import_inputs(config);
        summary.import = run_import(db, config, run);
        break;
      case Stage::kTrain:
        summary.train = run_train(db, config, run);
        break;
      case Stage::kScore:
        summary.publish = run_score(db, config, run);
        break;
    }
  };
  recorded_run(config, name, json, one_stage);
}

}  // namespace recs
