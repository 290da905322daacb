// Run history: each command that changes the database records when it ran,
// with which config and model, counts, per-stage timings and metrics, the
// figures of its closing summary, and how it ended, so an operator can see
// what was published and why a night did not publish.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>
#include <string>

#include "util/json.h"

namespace recs::db {

class RunRecord {
 public:
  // Nothing is written until the first id() or save(); a recorded run
  // (app/run.h) calls id() as soon as it holds the run lock, so even a run
  // refused at its first check leaves its row.
  RunRecord(SQLite::Database& db, std::string command, std::string config_yaml);

  // The run's id; inserts the 'running' row on first use. Rows left
  // 'running' by killed runs are marked 'abandoned' first (the caller holds
  // the RunLock, so none of them is live).
  std::int64_t id();
  bool recorded() const { return id_ != 0; }
  void count(std::string_view key, std::int64_t value) { counts_.add(key, value); }
  void timing(std::string_view key, double seconds) { timings_.add(key, seconds); }
  void metric(std::string_view key, double value) { metrics_.add(key, value); }
  void metric_json(std::string_view key, const std::string& json) { metrics_.add_raw(key, json); }
  void model_type(std::string type) { model_type_ = std::move(type); }
  // The closing summary's figures (a JSON object), saved in runs.summary.
  void summary(std::string json) { summary_ = std::move(json); }

  // Writes the fields gathered so far (the row stays 'running').
  void save();
  void succeed();
  // Records the failure; never throws (it runs while an error propagates).
  void fail(const std::string& message) noexcept;
  // Records a refusal: bad input or configuration found once the run had
  // started (status 'refused', the message naming file:line or the key).
  // Never throws.
  void refuse(const std::string& message) noexcept;

 private:
  void finish(const std::string& status, const std::string& message);
  void finish_noexcept(const std::string& status, const std::string& message) noexcept;

  SQLite::Database& db_;
  std::string command_;
  std::string config_yaml_;
  std::string started_at_;
  std::int64_t id_ = 0;
  std::string model_type_;
  JsonObject counts_, timings_, metrics_;
  std::string summary_ = "{}";
  bool finished_ = false;
};

}  // namespace recs::db
