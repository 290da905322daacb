// Inside the SQLite backend: SQLiteCpp's exceptions become DatabaseError at
// the repositories' boundary, so callers see one error type whatever the
// backend.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <string>
#include <utility>

#include "util/error.h"

namespace recs::db {

// Runs `body`; a SQLite::Exception leaves it as DatabaseError("<context>:
// <SQLite's message>"). Cheap enough per row: nothing is built unless it
// throws.
template <typename Body>
decltype(auto) translate_errors(const std::string& context, Body&& body) {
  try {
    return std::forward<Body>(body)();
  } catch (const SQLite::Exception& e) {
    throw DatabaseError(context + ": " + e.what());
  }
}

// The same, with the database's file name as the context.
template <typename Body>
decltype(auto) translate_errors(SQLite::Database& db, Body&& body) {
  return translate_errors(db.getFilename(), std::forward<Body>(body));
}

}  // namespace recs::db
