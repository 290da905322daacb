// Typed errors. Library code throws these with context (file:line, key path);
// only main() turns them into one line on stderr and an exit code.
#pragma once

#include <stdexcept>
#include <string>

namespace recs {

// Process exit codes, documented in the README so cron and monitoring can
// tell failures apart.
enum class ExitCode : int {
  kOk = 0,
  kInternal = 1,  // a bug or an unexpected system failure
  kUsage = 2,     // bad command line
  kConfig = 3,    // bad configuration file or --set override
  kInput = 4,     // bad input data (CSV rows, pairs files)
  kDatabase = 5,  // the database cannot be opened, read or written
  kGate = 6,      // the quality gate refused to publish
  kLocked = 7,    // another run holds the database
  kNotFound =
      8,  // nothing to roll back to, no ratings or model yet, the model asked for is not kept
};

// What each exit code means, in one place: `pipeline --help` prints this
// list, and a test holds the README's "Exit codes" table to it.
struct ExitCodeMeaning {
  ExitCode code;
  const char* meaning;
};
inline constexpr ExitCodeMeaning kExitCodeMeanings[] = {
    {ExitCode::kOk, "success"},
    {ExitCode::kInternal, "internal error (a bug, out of memory)"},
    {ExitCode::kUsage, "bad command line, a bad `--set` value included"},
    {ExitCode::kConfig, "bad configuration (the message names `file:line: key`)"},
    {ExitCode::kInput, "bad input data (the message names `file:line: reason`)"},
    {ExitCode::kDatabase,
     "database error (cannot open, read or write; nothing published, unless the line says the "
     "work is committed and only the run history could not record it)"},
    {ExitCode::kGate,
     "refused to publish: the quality gate, a model with non-finite vectors or scores, or an "
     "empty set (no user would get a row)"},
    {ExitCode::kLocked, "another run holds the database (`<database>.lock`)"},
    {ExitCode::kNotFound,
     "not found: nothing to roll back to, no ratings imported yet (`train`, `evaluate`), no model "
     "trained yet (`score`, `predict`, a shard), the "
     "model asked for (`--model N`) is not kept, or "
     "(`publish` without `--model`) a shard of the newest model is not staged; nothing "
     "changed"},
};

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& what) : std::runtime_error(what), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

class UsageError : public Error {
 public:
  explicit UsageError(const std::string& what) : Error(ExitCode::kUsage, what) {}
};

// A configuration problem; the message names the key path and, when the key
// came from a file, "file:line".
class ConfigError : public Error {
 public:
  explicit ConfigError(const std::string& what) : Error(ExitCode::kConfig, what) {}
};

// Bad input data; the message starts with "file:line: ".
class InputError : public Error {
 public:
  explicit InputError(const std::string& what) : Error(ExitCode::kInput, what) {}
  InputError(const std::string& file, long line, const std::string& reason)
      : Error(ExitCode::kInput, file + ":" + std::to_string(line) + ": " + reason) {}
};

class DatabaseError : public Error {
 public:
  explicit DatabaseError(const std::string& what) : Error(ExitCode::kDatabase, what) {}
};

class GateError : public Error {
 public:
  explicit GateError(const std::string& what) : Error(ExitCode::kGate, what) {}
};

class LockedError : public Error {
 public:
  explicit LockedError(const std::string& what) : Error(ExitCode::kLocked, what) {}
};

// What the command asked for is not in the database (no kept set to roll
// back to, a model id that is not kept); nothing was changed.
class NotFoundError : public Error {
 public:
  explicit NotFoundError(const std::string& what) : Error(ExitCode::kNotFound, what) {}
};

}  // namespace recs
