// Thin entry point: run the CLI, turn any failure into one line on stderr and
// the documented exit code.
#include <SQLiteCpp/Exception.h>
#include <fmt/format.h>

#include <cstdio>
#include <exception>
#include <new>

#include "cli/cli.h"
#include "util/error.h"

int main(int argc, char** argv) {
  auto report = [](const char* kind, const char* what) {
    fmt::print(stderr, "pipeline: {}{}\n", kind, what);
  };
  try {
    return recs::run_cli(argc, argv);
  } catch (const recs::Error& e) {
    report("error: ", e.what());
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
