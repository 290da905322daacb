// A read-only reader never sees the WAL index a pipeline open is rebuilding.
// The test puts -shm in the state a first attacher leaves it in for a few
// microseconds (attached, truncated, not yet rebuilt) and holds it there: a
// reader that cannot write -shm (`nobody`) fails at once with
// SQLITE_READONLY_RECOVERY when nothing holds the WAL write lock, and waits
// for the rebuild when the open runs under db/first_attach.h's guard.
// Switching to another user needs root, as CI runs the suite.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "db/database.h"
#include "db/first_attach.h"
#include "test_util.h"

namespace recs {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

// What SQLite's first attacher does before it rebuilds the index: a shared
// lock on the DMS byte (128) of -shm, then truncation to 3 bytes. Returns the
// descriptor holding the lock (closing it drops every lock of this process
// on -shm, so it is closed only once no connection is open).
int leave_shm_as_a_first_attacher_does(const fs::path& db) {
  const int fd = ::open((db.string() + "-shm").c_str(), O_RDWR | O_CLOEXEC);
  EXPECT_GE(fd, 0);
  struct flock lock {};
  lock.l_type = F_RDLCK;
  lock.l_whence = SEEK_SET;
  lock.l_start = 128;
  lock.l_len = 1;
  EXPECT_EQ(::fcntl(fd, F_SETLK, &lock), 0);
  EXPECT_EQ(::ftruncate(fd, 3), 0);
  return fd;
}

std::string reader_command(const fs::path& db) {
  return "runuser -u nobody -- sqlite3 -batch -readonly -cmd '.timeout 5000' " + test::quoted(db) +
         " 'SELECT count(*) FROM t;'";
}

class FirstAttach : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "switching to another user needs root (CI runs as root)";
    fs::permissions(dir_.path(), fs::perms(0755), fs::perm_options::replace);
    auto db = db::open(db_);
    db->exec("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2);");
  }  // closes; -wal and -shm stay for readers

  TempDir dir_;
  fs::path db_ = dir_ / "recs.db";
};

TEST_F(FirstAttach, WithoutTheWriteLockAReaderFailsAtOnce) {
  // The failure the guard exists for, so the next test proves something.
  const int fd = leave_shm_as_a_first_attacher_does(db_);
  auto r = test::run_command(reader_command(db_));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("attempt to write a readonly database"), std::string::npos) << r.err;
  ::close(fd);
}

TEST_F(FirstAttach, UnderTheGuardAReaderWaitsForTheRebuildAndReads) {
  TempDir out;
  int fd = -1;
  int reader = -1;
  auto db = db::open_first_attach_safe(db_, [&] {
    fd = leave_shm_as_a_first_attacher_does(db_);
    reader = test::spawn(reader_command(db_), out / "out", out / "err");
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    int status = 0;
    const bool waiting = ::waitpid(reader, &status, WNOHANG) == 0;
    EXPECT_TRUE(waiting) << "the reader did not wait: exit "
                         << (WIFEXITED(status) ? WEXITSTATUS(status) : -1) << ", stderr '"
                         << test::read_file(out / "err") << "', stdout '"
                         << test::read_file(out / "out") << "'";
    if (!waiting) reader = -1;  // already reaped
    // The rebuild, as the open's first read does it.
    auto c = std::make_unique<SQLite::Database>(db_.string(), SQLite::OPEN_READWRITE);
    c->setBusyTimeout(db::kBusyTimeoutMs);
    EXPECT_EQ(c->execAndGet("SELECT count(*) FROM t").getInt(), 2);
    return c;
  });
  if (reader > 0) {
    EXPECT_EQ(test::wait_exit(reader), 0) << test::read_file(out / "err");
  }
  EXPECT_EQ(test::read_file(out / "out"), "2\n");
  EXPECT_EQ(test::read_file(out / "err"), "");
  db.reset();
  ::close(fd);
}

// A reader that finds the write lock busy probes the recovery lock (to tell
// a rebuild from a writer). Had it the recovery lock while the rebuild
// wanted it, the rebuild would back off, releasing the write lock (and with
// it the guard's: POSIX locks are the process's), and a reader probing then
// would fail as above. So under the guard another process can take neither
// the write lock nor the checkpoint and recovery locks beside it.
TEST_F(FirstAttach, UnderTheGuardAProbeOfTheRecoveryLockFindsItHeld) {
  auto probe = [&](off_t byte) {
    const pid_t child = ::fork();
    if (child == 0) {
      const int fd = ::open((db_.string() + "-shm").c_str(), O_RDONLY | O_CLOEXEC);
      struct flock lock {};
      lock.l_type = F_RDLCK;
      lock.l_whence = SEEK_SET;
      lock.l_start = byte;
      lock.l_len = 1;
      ::_exit(fd >= 0 && ::fcntl(fd, F_SETLK, &lock) == 0 ? 0 : 1);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;  // true: the probe got the lock
  };
  ASSERT_TRUE(probe(122));  // nothing holds it outside the guard
  auto db = db::open_first_attach_safe(db_, [&] {
    for (const off_t byte : {120, 121, 122}) EXPECT_FALSE(probe(byte)) << "byte " << byte;
    EXPECT_TRUE(probe(123));  // the read marks stay free
    auto c = std::make_unique<SQLite::Database>(db_.string(), SQLite::OPEN_READWRITE);
    c->setBusyTimeout(db::kBusyTimeoutMs);
    EXPECT_EQ(c->execAndGet("SELECT count(*) FROM t").getInt(), 2);
    return c;
  });
  EXPECT_TRUE(probe(122));  // dropped once the open is done
}

}  // namespace
}  // namespace recs
