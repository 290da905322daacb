#include "app/run.h"

#include <exception>
#include <sstream>
#include <string>

#include "app/evaluate.h"
#include "app/gate.h"
#include "app/import.h"
#include "app/score.h"
#include "app/train.h"
#include "db/database.h"
#include "util/error.h"
#include "util/log.h"

namespace recs {
namespace {

// Bad input or configuration found once the run started: the stage that
// found it wrote nothing.
bool is_refusal(const Error& e) {
  return e.code() == ExitCode::kInput || e.code() == ExitCode::kConfig;
}

}  // namespace

void recorded_run(const Config& config, std::string_view command, const RunBody& body) {
  check_database_path(config);
  db::RunLock lock(config.database);
  auto database = db::open(config.database);
  db::RunRecord run(*database, std::string(command), describe_config(config, false));
  log::set_run(run.id());
  log::info("{} on {}", command, config.database.string());
  try {
    body(*database, run);
    log::Stopwatch clock;
    db::checkpoint(*database);
    run.timing("checkpoint", clock.seconds());
    run.succeed();
  } catch (const Error& e) {
    if (is_refusal(e)) {
      run.refuse(e.what());
    } else {
      run.fail(e.what());
    }
    throw;
  } catch (const std::exception& e) {
    run.fail(e.what());
    throw;
  }
}

void run_nightly(const Config& config) {
  log::set_stage("run");
  recorded_run(config, "run", [&](SQLite::Database& db, db::RunRecord& run) {
    log::Stopwatch clock;
    log::set_stage("import");
    check_import_inputs(config);
    run_import(db, config, run);
    run.save();
    if (config.evaluate.in_run) {
      log::set_stage("evaluate");
      std::ostringstream ignored;  // stdout carries only requested results
      EvalSummary evaluation = run_evaluate(db, config, run, ignored);
      check_quality_gate(db, config, evaluation.result, run);
    }
    log::set_stage("train");
    run_train(db, config, run);
    log::set_stage("score");
    run_score(db, config, run);
    run.timing("total", clock.seconds());
    log::set_stage("run");
    log::info("done in {:.3f} s", clock.seconds());
  });
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

void run_stage(Stage stage, const Config& config) {
  const std::string_view name = stage_name(stage);
  log::set_stage(name);
  recorded_run(config, name, [&](SQLite::Database& db, db::RunRecord& run) {
    switch (stage) {
      case Stage::kImport:
        check_import_inputs(config);
        run_import(db, config, run);
        break;
      case Stage::kTrain:
        run_train(db, config, run);
        break;
      case Stage::kScore:
        run_score(db, config, run);
        break;
    }
  });
}

}  // namespace recs
