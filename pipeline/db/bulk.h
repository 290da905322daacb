// Bulk writes: one prepared multi-row INSERT (kRowsPerStatement rows of
// VALUES), bind -> exec -> reset in a loop, and a statement of the exact size
// for the tail. Callers wrap it in a transaction; it never commits.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace recs::db {

// "INSERT INTO target VALUES (?,..),(?,..)..." for `rows` rows.
std::string multi_row_insert(std::string_view verb, std::string_view target, int columns, int rows);

// Each row is a tuple of Columns (std::int64_t, double, std::string, or
// std::optional<std::int64_t> where empty is NULL).
template <typename... Columns>
class BulkInserter {
 public:
  static constexpr int kColumns = sizeof...(Columns);
  static constexpr int kRowsPerStatement = 100;

  // `target` is "table(col1, col2, ...)" with as many columns as Columns.
  BulkInserter(SQLite::Database& db, std::string_view target, std::string_view verb = "INSERT")
      : db_(db),
        target_(target),
        verb_(verb),
        many_(db, multi_row_insert(verb, target, kColumns, kRowsPerStatement)) {
    pending_.reserve(kRowsPerStatement);
  }

  void row(Columns... values) {
    pending_.emplace_back(std::move(values)...);
    if (pending_.size() == kRowsPerStatement) write(many_);
  }

  // Writes the pending rows. Call before committing.
  void flush() {
    if (pending_.empty()) return;
    SQLite::Statement tail(
        db_, multi_row_insert(verb_, target_, kColumns, static_cast<int>(pending_.size())));
    write(tail);
  }

  std::int64_t rows_written() const { return rows_; }

 private:
  void write(SQLite::Statement& statement) {
    int slot = 0;
    for (const auto& r : pending_) {
      std::apply([&](const auto&... v) { (bind(statement, ++slot, v), ...); }, r);
    }
    statement.exec();
    statement.reset();
    rows_ += static_cast<std::int64_t>(pending_.size());
    pending_.clear();
  }

  static void bind(SQLite::Statement& s, int slot, std::int64_t v) { s.bind(slot, v); }
  static void bind(SQLite::Statement& s, int slot, double v) { s.bind(slot, v); }
  static void bind(SQLite::Statement& s, int slot, const std::string& v) { s.bindNoCopy(slot, v); }
  static void bind(SQLite::Statement& s, int slot, const std::optional<std::int64_t>& v) {
    if (v) {
      s.bind(slot, *v);
    } else {
      s.bind(slot);
    }
  }

  SQLite::Database& db_;
  std::string target_;
  std::string verb_;
  std::int64_t rows_ = 0;
  std::vector<std::tuple<Columns...>> pending_;
  SQLite::Statement many_;
};

}  // namespace recs::db
