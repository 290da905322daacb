#include "db/postgres_connection.h"

#include <libpq-fe.h>

#include <bit>

#include "util/error.h"

namespace recs::db::pg {
namespace {

// libpq's messages span lines ("...failed: ...\n\tIs the server running");
// the error line is one line.
std::string one_line(const char* message) {
  std::string out;
  bool space = false;
  for (const char* p = message ? message : ""; *p; ++p) {
    const char c = *p;
    if (c == '\n' || c == '\t' || c == '\r' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out.empty() ? std::string("unknown error") : out;
}

std::string server_name(PGconn* conn) {
  const char* host = PQhost(conn);
  const char* port = PQport(conn);
  const char* db = PQdb(conn);
  std::string h = host && *host ? host : "localhost";
  return "PostgreSQL " + h + ":" + (port && *port ? port : "5432") + "/" + (db ? db : "");
}

constexpr std::int32_t kInt8Oid = 20;
constexpr std::int32_t kFloat4Oid = 700;
constexpr std::size_t kChunk = 1 << 20;

}  // namespace

Result::~Result() {
  if (r_) PQclear(r_);
}
int Result::rows() const { return PQntuples(r_); }
bool Result::null(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
std::string Result::text(int row, int col) const { return PQgetvalue(r_, row, col); }
std::int64_t Result::int64(int row, int col) const { return std::stoll(PQgetvalue(r_, row, col)); }
std::optional<std::int64_t> Result::optional_int64(int row, int col) const {
  if (null(row, col)) return std::nullopt;
  return int64(row, col);
}

Connection::Connection(const std::string& conninfo, const std::string& context)
    : context_(context) {
  // The connection string as given (expand_dbname), named "recs pipeline"
  // in pg_stat_activity and the server's log unless it names itself.
  const char* keys[] = {"dbname", "fallback_application_name", nullptr};
  const char* values[] = {conninfo.c_str(), "recs pipeline", nullptr};
  conn_ = PQconnectdbParams(keys, values, 1);
  if (!conn_) throw DatabaseError("PostgreSQL: " + context + ": out of memory");
  server_ = server_name(conn_);
  if (PQstatus(conn_) != CONNECTION_OK) {
    const std::string message = one_line(PQerrorMessage(conn_));
    PQfinish(conn_);
    conn_ = nullptr;
    throw DatabaseError(server_ + ": " + context + ": " + message);
  }
  // Our notices (e.g. "relation does not exist, skipping") are not the log's.
  PQsetNoticeProcessor(
      conn_, [](void*, const char*) {}, nullptr);
}

Connection::~Connection() {
  if (conn_) PQfinish(conn_);
}

void Connection::fail(const std::string& what) const {
  throw DatabaseError(server_ + ": " + context_ + ": " + what);
}

Result Connection::exec(const std::string& sql) {
  PGresult* raw = PQexec(conn_, sql.c_str());
  Result r(raw);
  const ExecStatusType status = PQresultStatus(raw);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    fail(one_line(raw ? PQresultErrorMessage(raw) : PQerrorMessage(conn_)));
  }
  return r;
}

Result Connection::exec(const std::string& sql,
                        const std::vector<std::optional<std::string>>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  PGresult* raw = PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                               values.data(), nullptr, nullptr, 0);
  Result r(raw);
  const ExecStatusType status = PQresultStatus(raw);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    fail(one_line(raw ? PQresultErrorMessage(raw) : PQerrorMessage(conn_)));
  }
  return r;
}

std::string quote_ident(const std::string& name) {
  std::string out = "\"";
  for (char c : name) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string quote_literal(const std::string& value) {
  std::string out = "'";
  for (char c : value) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

CopyIn::CopyIn(Connection& conn, const std::string& target) : conn_(conn) {
  PGresult* r = PQexec(conn_.raw(), ("COPY " + target + " FROM STDIN (FORMAT binary)").c_str());
  const ExecStatusType status = PQresultStatus(r);
  const std::string message = one_line(r ? PQresultErrorMessage(r) : PQerrorMessage(conn_.raw()));
  PQclear(r);
  if (status != PGRES_COPY_IN) conn_.fail(message);
  open_ = true;
  buffer_.reserve(kChunk + 4096);
  static const char kHeader[] = "PGCOPY\n\377\r\n";
  buffer_.append(kHeader, 11);
  put32(0);  // flags
  put32(0);  // header extension length
}

CopyIn::~CopyIn() {
  if (!open_) return;
  // Abort: the server fails the COPY, the caller's transaction rolls back.
  PQputCopyEnd(conn_.raw(), "publishing abandoned");
  while (PGresult* r = PQgetResult(conn_.raw())) PQclear(r);
}

void CopyIn::put16(std::int16_t v) {
  const auto u = __builtin_bswap16(static_cast<std::uint16_t>(v));
  buffer_.append(reinterpret_cast<const char*>(&u), 2);
}
void CopyIn::put32(std::int32_t v) {
  const auto u = __builtin_bswap32(static_cast<std::uint32_t>(v));
  buffer_.append(reinterpret_cast<const char*>(&u), 4);
}
void CopyIn::put64(std::int64_t v) {
  const auto u = __builtin_bswap64(static_cast<std::uint64_t>(v));
  buffer_.append(reinterpret_cast<const char*>(&u), 8);
}

void CopyIn::row(int fields) {
  send_if_full();
  put16(static_cast<std::int16_t>(fields));
  ++rows_;
}
void CopyIn::int32(std::int32_t v) {
  put32(4);
  put32(v);
}
void CopyIn::int64(std::int64_t v) {
  put32(8);
  put64(v);
}
void CopyIn::float4(float v) {
  put32(4);
  put32(static_cast<std::int32_t>(std::bit_cast<std::uint32_t>(v)));
}
void CopyIn::float8(double v) {
  put32(8);
  put64(static_cast<std::int64_t>(std::bit_cast<std::uint64_t>(v)));
}
void CopyIn::text(const std::string& v) {
  put32(static_cast<std::int32_t>(v.size()));
  buffer_ += v;
}
void CopyIn::null() { put32(-1); }

void CopyIn::int64_array(std::span<const std::int64_t> v, std::optional<std::int64_t> null_value) {
  bool has_null = false;
  if (null_value) {
    for (std::int64_t x : v) has_null |= x == *null_value;
  }
  std::size_t nulls = 0;
  if (has_null) {
    for (std::int64_t x : v) nulls += x == *null_value;
  }
  const std::size_t bytes = 20 + 4 * v.size() + 8 * (v.size() - nulls);
  put32(static_cast<std::int32_t>(bytes));
  put32(1);  // dimensions
  put32(has_null ? 1 : 0);
  put32(kInt8Oid);
  put32(static_cast<std::int32_t>(v.size()));
  put32(1);  // lower bound
  for (std::int64_t x : v) {
    if (has_null && x == *null_value) {
      put32(-1);
    } else {
      put32(8);
      put64(x);
    }
  }
}

void CopyIn::float4_array(std::span<const float> v) {
  put32(static_cast<std::int32_t>(20 + 8 * v.size()));
  put32(1);
  put32(0);
  put32(kFloat4Oid);
  put32(static_cast<std::int32_t>(v.size()));
  put32(1);
  for (float x : v) float4(x);
}

void CopyIn::send_if_full() {
  if (buffer_.size() >= kChunk) send();
}

void CopyIn::send() {
  if (buffer_.empty()) return;
  if (PQputCopyData(conn_.raw(), buffer_.data(), static_cast<int>(buffer_.size())) != 1) {
    open_ = false;
    conn_.fail(one_line(PQerrorMessage(conn_.raw())));
  }
  buffer_.clear();
}

std::int64_t CopyIn::finish() {
  put16(-1);  // trailer
  send();
  open_ = false;
  if (PQputCopyEnd(conn_.raw(), nullptr) != 1) conn_.fail(one_line(PQerrorMessage(conn_.raw())));
  std::string error;
  while (PGresult* r = PQgetResult(conn_.raw())) {
    if (PQresultStatus(r) != PGRES_COMMAND_OK && error.empty())
      error = one_line(PQresultErrorMessage(r));
    PQclear(r);
  }
  if (!error.empty()) conn_.fail(error);
  return rows_;
}

}  // namespace recs::db::pg
