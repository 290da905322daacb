#include "db/runs.h"

#include "db/database.h"
#include "util/log.h"

namespace recs::db {

RunRecord::RunRecord(SQLite::Database& db, std::string command, std::string config_yaml)
    : db_(db),
      command_(std::move(command)),
      config_yaml_(std::move(config_yaml)),
      started_at_(utc_now()) {}

std::int64_t RunRecord::id() {
  if (id_ != 0) return id_;
  SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
  db_.exec(
      "UPDATE runs SET status = 'abandoned', message = 'the process ended without finishing' "
      "WHERE status = 'running'");
  SQLite::Statement insert(
      db_, "INSERT INTO runs (command, started_at, status, config) VALUES (?, ?, 'running', ?)");
  insert.bind(1, command_);
  insert.bind(2, started_at_);
  insert.bind(3, config_yaml_);
  insert.exec();
  std::int64_t id = db_.getLastInsertRowid();
  tx.commit();
  id_ = id;
  return id_;
}

void RunRecord::save() {
  SQLite::Statement update(db_,
                           "UPDATE runs SET model_type = ?, counts = ?, timings = ?, metrics = ?, "
                           "summary = ? WHERE run_id = ?");
  if (model_type_.empty()) {
    update.bind(1);
  } else {
    update.bind(1, model_type_);
  }
  update.bind(2, counts_.str());
  update.bind(3, timings_.str());
  update.bind(4, metrics_.str());
  update.bind(5, summary_);
  update.bind(6, id());
  update.exec();
}

void RunRecord::finish(const std::string& status, const std::string& message) {
  save();
  SQLite::Statement update(
      db_, "UPDATE runs SET status = ?, finished_at = ?, message = ? WHERE run_id = ?");
  update.bind(1, status);
  update.bind(2, utc_now());
  if (message.empty()) {
    update.bind(3);
  } else {
    update.bind(3, message);
  }
  update.bind(4, id());
  update.exec();
  finished_ = true;
}

void RunRecord::succeed() { finish("succeeded", ""); }

void RunRecord::finish_noexcept(const std::string& status, const std::string& message) noexcept {
  try {
    finish(status, message);
  } catch (const std::exception& e) {
    log::warn("could not record the {} run in the run history: {}", status, e.what());
  }
}

void RunRecord::fail(const std::string& message) noexcept { finish_noexcept("failed", message); }

void RunRecord::refuse(const std::string& message) noexcept { finish_noexcept("refused", message); }

}  // namespace recs::db
