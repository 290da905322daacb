// The command line: parses argv with CLI11 and dispatches to the chosen
// command (the recorded runs live in app/run.h).
#pragma once

namespace recs {

// Returns the process exit code. Throws recs::Error subclasses for failures;
// main() maps them to a message and an exit code.
int run_cli(int argc, char** argv);

}  // namespace recs
