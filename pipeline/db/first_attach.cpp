#include "db/first_attach.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <string>

#include "util/error.h"

namespace recs::db {

namespace {

// The byte of -shm that SQLite's unix VFS locks as the WAL write lock: its
// locks start at (22 + SQLITE_SHM_NLOCK) * 4 = 120, and the write lock is
// the first (WAL_WRITE_LOCK = 0). The layout is part of SQLite's file
// format; every SQLite 3.7.0 and later on unix agrees on it.
constexpr off_t kWalWriteLockByte = 120;

bool set_write_lock(int fd, short type) {
  struct flock lock {};
  lock.l_type = type;
  lock.l_whence = SEEK_SET;
  lock.l_start = kWalWriteLockByte;
  lock.l_len = 1;
  return ::fcntl(fd, F_SETLK, &lock) == 0;
}

// POSIX record locks belong to the process, not to a descriptor, so
// SQLite's own taking of the write lock in this process succeeds while we
// hold it, and closing ANY descriptor of -shm drops every lock this process
// holds on it, SQLite's included. So each -shm descriptor opened here stays
// open for the life of the process (one per database file), and is replaced
// only while no connection of this process is open on it.
struct ShmFile {
  int fd = -1;
  dev_t dev = 0;
  ino_t ino = 0;
};

struct State {
  std::mutex attach;  // serialises opens of one process
  std::mutex count;   // guards `open`; taken alone when SQLite closes a connection
  std::map<std::string, int> open;
  std::map<std::string, ShmFile> shm;
};

State& state() {
  static State* s = new State;  // outlives every connection, even at exit
  return *s;
}

// The -shm descriptor for `key`, (re)opened when the file was replaced;
// -1 when there is no -shm or this process may not write it (then it is a
// read-only reader itself and never rebuilds the index).
int shm_descriptor(const std::string& key) {
  const std::string shm_path = key + "-shm";
  struct stat now {};
  if (::stat(shm_path.c_str(), &now) != 0) return -1;
  ShmFile& f = state().shm[key];
  if (f.fd >= 0 && (f.dev != now.st_dev || f.ino != now.st_ino)) {
    ::close(f.fd);  // no connection of this process is open on it
    f = ShmFile{};
  }
  if (f.fd < 0) {
    const int fd = ::open(shm_path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      return -1;
    }
    f = ShmFile{fd, st.st_dev, st.st_ino};
  }
  return f.fd;
}

// Closes the descriptors of databases that are gone (a test's temporary
// folder), so a process that opens many never runs out of descriptors. Only
// files no connection of this process has open: their count is zero.
void forget_removed_files() {
  auto& shm = state().shm;
  for (auto it = shm.begin(); it != shm.end();) {
    struct stat now {};
    const bool gone = ::stat((it->first + "-shm").c_str(), &now) != 0 ||
                      now.st_dev != it->second.dev || now.st_ino != it->second.ino;
    bool idle;
    {
      std::lock_guard lock(state().count);
      idle = state().open[it->first] == 0;
    }
    if (gone && idle) {
      if (it->second.fd >= 0) ::close(it->second.fd);
      it = shm.erase(it);
    } else {
      ++it;
    }
  }
}

void count_closed(void* key) {
  auto* k = static_cast<std::string*>(key);
  {
    std::lock_guard lock(state().count);
    --state().open[*k];
  }
  delete k;
}

void never_called(sqlite3_context*, int, sqlite3_value**) {}

}  // namespace

std::unique_ptr<SQLite::Database> open_first_attach_safe(
    const std::filesystem::path& path,
    const std::function<std::unique_ptr<SQLite::Database>()>& open) {
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::weakly_canonical(path, ec);
  const std::string key = ec ? path.string() : absolute.string();

  std::lock_guard attach(state().attach);
  bool first;
  {
    std::lock_guard lock(state().count);
    first = state().open[key] == 0;
  }
  forget_removed_files();
  int held = -1;
  if (first) {
    const int fd = shm_descriptor(key);
    // Fails only when another process is writing: it has -shm attached,
    // so this open will not rebuild the index.
    if (fd >= 0 && set_write_lock(fd, F_WRLCK)) held = fd;
  }
  std::unique_ptr<SQLite::Database> db;
  try {
    db = open();
  } catch (...) {
    if (held >= 0) set_write_lock(held, F_UNLCK);
    throw;
  }
  // Nothing of this process holds the write lock now (no other connection
  // is open, and `open` committed what it wrote), so this drops only ours.
  if (held >= 0) set_write_lock(held, F_UNLCK);

  // SQLite destroys a function's user data when it closes the connection:
  // that is when the connection stops counting.
  auto* token = new std::string(key);
  const int rc = sqlite3_create_function_v2(db->getHandle(), "recs_open_connection", 0, SQLITE_UTF8,
                                            token, never_called, nullptr, nullptr, count_closed);
  if (rc != SQLITE_OK) {
    // SQLite has already called count_closed (on a counter not yet raised).
    std::lock_guard lock(state().count);
    ++state().open[key];
    throw DatabaseError(path.string() + ": cannot count the connection: " + sqlite3_errstr(rc));
  }
  std::lock_guard lock(state().count);
  ++state().open[key];
  return db;
}

}  // namespace recs::db
