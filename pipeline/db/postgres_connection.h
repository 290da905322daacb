// Inside the PostgreSQL backend: one libpq connection, its results, and a
// binary COPY writer (PQputCopyData). Every failure is a DatabaseError of one
// line, "<server>: <context>: <libpq's message>", where <server> names the
// server as "PostgreSQL host:port/database" (never a password).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

struct pg_conn;
struct pg_result;

namespace recs::db::pg {

class Result {
 public:
  explicit Result(pg_result* r) : r_(r) {}
  ~Result();
  Result(Result&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  Result& operator=(Result&&) = delete;

  int rows() const;
  bool null(int row, int col) const;
  std::string text(int row, int col) const;
  std::int64_t int64(int row, int col) const;
  std::optional<std::int64_t> optional_int64(int row, int col) const;

 private:
  pg_result* r_;
};

class Connection {
 public:
  // Connects; `context` starts the error message on failure.
  Connection(const std::string& conninfo, const std::string& context);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // "PostgreSQL host:port/database".
  const std::string& server() const { return server_; }
  // Failures after this read "<server>: <context>: ...".
  void set_context(std::string context) { context_ = std::move(context); }
  const std::string& context() const { return context_; }

  // Runs one or more statements; throws DatabaseError on failure.
  Result exec(const std::string& sql);
  // One statement with text parameters ($1, $2...; nullopt is NULL).
  Result exec(const std::string& sql, const std::vector<std::optional<std::string>>& params);

  [[noreturn]] void fail(const std::string& what) const;
  pg_conn* raw() { return conn_; }

 private:
  pg_conn* conn_ = nullptr;
  std::string server_;
  std::string context_;
};

// SQL quoting.
std::string quote_ident(const std::string& name);
std::string quote_literal(const std::string& value);

// A COPY ... FROM STDIN (FORMAT binary) in progress on `conn`; rows are
// buffered and sent in chunks. Destroyed before finish(), it aborts the COPY
// (the caller's transaction then fails and rolls back).
class CopyIn {
 public:
  // `target` is "table (col, ...)".
  CopyIn(Connection& conn, const std::string& target);
  ~CopyIn();
  CopyIn(const CopyIn&) = delete;
  CopyIn& operator=(const CopyIn&) = delete;

  void row(int fields);
  void int32(std::int32_t v);
  void int64(std::int64_t v);
  void float4(float v);
  void float8(double v);
  void text(const std::string& v);
  void null();
  // One-dimensional arrays; elements equal to `null_value` are NULL.
  void int64_array(std::span<const std::int64_t> v,
                   std::optional<std::int64_t> null_value = std::nullopt);
  void float4_array(std::span<const float> v);

  // Ends the COPY and checks its result; returns the rows copied.
  std::int64_t finish();

 private:
  void put16(std::int16_t v);
  void put32(std::int32_t v);
  void put64(std::int64_t v);
  void send_if_full();
  void send();

  Connection& conn_;
  std::string buffer_;
  std::int64_t rows_ = 0;
  bool open_ = false;
};

}  // namespace recs::db::pg
