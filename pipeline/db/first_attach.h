// Opening a WAL database so that read-only readers never see an unbuilt
// WAL index (used by db/database.cpp alone).
//
// The first connection of a process to attach to "<db>-shm", when no other
// process has it attached, truncates it and then rebuilds the WAL index
// (recovery) under SQLite's WAL write lock. A reader that cannot write
// -shm (the web app's read-only user) and looks in between finds an empty
// index with the write lock free, and fails at once with
// SQLITE_READONLY_RECOVERY ("attempt to write a readonly database") instead
// of waiting. So while this process has no connection open on the database,
// an open takes that write lock itself first (with the checkpoint and
// recovery locks beside it, so a reader's probe cannot make the rebuild back
// off and drop it: first_attach.cpp) and drops them once the connection's
// first read has rebuilt the index: a reader in between sees a writer at
// work and waits, as its busy timeout allows.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <filesystem>
#include <functional>
#include <memory>

namespace recs::db {

// Calls `open` (which opens the connection and runs its first statements)
// under the guard described above, and counts the connection as open until
// SQLite closes it.
std::unique_ptr<SQLite::Database> open_first_attach_safe(
    const std::filesystem::path& path,
    const std::function<std::unique_ptr<SQLite::Database>()>& open);

}  // namespace recs::db
