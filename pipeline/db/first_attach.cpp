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

// The bytes of -shm that SQLite's unix VFS locks as the WAL write,
// checkpoint and recovery locks: its locks start at (22 + SQLITE_SHM_NLOCK)
// * 4 = 120, in that order (WAL_WRITE_LOCK 0, WAL_CKPT_LOCK 1,
// WAL_RECOVER_LOCK 2). The layout is part of SQLite's file format; every
// SQLite 3.7.0 and later on unix agrees on it.
constexpr off_t kWalWriteLockByte = 120;
constexpr off_t kWalLocksThroughRecover = 3;

bool set_lock(int fd, short type, off_t len) {
  struct flock lock {};
  lock.l_type = type;
  lock.l_whence = SEEK_SET;
  lock.l_start = kWalWriteLockByte;
  lock.l_len = len;
  return ::fcntl(fd, F_SETLK, &lock) == 0;
}

// The rebuild takes the checkpoint and recovery locks after the write lock,
// and when another process holds either (a reader that found the write lock
// busy probes the recovery lock to tell a rebuild from a writer) it backs
// off: it releases the write lock and tries again. POSIX locks being the
// process's, that release drops ours too, and a reader probing the write
// lock in that gap found the index unbuilt and the lock free. Holding all
// three bytes from before the open leaves a reader's probe nothing to take,
// so the rebuild never backs off. Returns whether the lock was taken: false
// when another process holds any of the bytes (then it has -shm attached and
// this open does not rebuild the index); then the write lock alone, as a
// second best.
bool lock_for_rebuild(int fd) {
  return set_lock(fd, F_WRLCK, kWalLocksThroughRecover) || set_lock(fd, F_WRLCK, 1);
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
    if (fd >= 0 && lock_for_rebuild(fd)) held = fd;
  }
  std::unique_ptr<SQLite::Database> db;
  try {
    db = open();
  } catch (...) {
    if (held >= 0) set_lock(held, F_UNLCK, kWalLocksThroughRecover);
    throw;
  }
  // Nothing of this process holds these locks now (no other connection is
  // open, and `open` committed what it wrote), so this drops only ours.
  if (held >= 0) set_lock(held, F_UNLCK, kWalLocksThroughRecover);

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
