// The command line: parses argv (cli/args.h) and runs the chosen command.
#pragma once

namespace recs {

// Returns the process exit code. Throws recs::Error subclasses for failures;
// main() maps them to a message and an exit code.
int run_cli(int argc, char** argv);

}  // namespace recs
