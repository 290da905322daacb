// Inside the SQLite backend: SQLiteCpp's exceptions become DatabaseError at
// the repositories' boundary, so callers see one error type per backend.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <string>
#include <utility>

#include "util/error.h"

namespace recs::db {

// Runs `body`; a SQLite::Exception leaves it as DatabaseError("<context>:
// <SQLite's message>"), `context` being the database's name unless given.
template <typename Body>
decltype(auto) translate_errors(SQLite::Database& db, Body&& body, std::string context = {}) {
  try {
    return std::forward<Body>(body)();
  } catch (const SQLite::Exception& e) {
    throw DatabaseError((context.empty() ? db.getFilename() : context) + ": " + e.what());
  }
}

}  // namespace recs::db
