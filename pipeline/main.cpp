// Thin entry point: run the CLI, turn any failure into one line on stderr and
// the documented exit code. The line has the log's form (timestamp, run id
// once the run has one, stage), e.g.
//   2026-12-01T20:00:00.123Z error [run 42] import: ratings.csv:17: ...
#include <SQLiteCpp/Exception.h>

#include <csignal>
#include <exception>
#include <new>

#include "cli/cli.h"
#include "util/error.h"
#include "util/log.h"

int main(int argc, char** argv) {
  // A log read through a pipe whose reader went away (`| logger`, `| head`)
  // must not kill a run mid-way: writes then fail with EPIPE, which the log
  // ignores (util/log.cpp).
  std::signal(SIGPIPE, SIG_IGN);
  auto report = [](const char* kind, const char* what) { recs::log::error("{}{}", kind, what); };
  try {
    return recs::run_cli(argc, argv);
  } catch (const recs::Error& e) {
    report("", e.what());
    return static_cast<int>(e.code());
  } catch (const SQLite::Exception& e) {
    report("database error: ", e.what());
    return static_cast<int>(recs::ExitCode::kDatabase);
  } catch (const std::bad_alloc&) {
    report("internal error: ", "out of memory");
    return static_cast<int>(recs::ExitCode::kInternal);
  } catch (const std::exception& e) {
    report("internal error: ", e.what());
    return static_cast<int>(recs::ExitCode::kInternal);
  }
}
