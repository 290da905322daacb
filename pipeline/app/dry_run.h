// `--dry-run` of the commands that write the database, and the checks
// `pipeline config` shares with them: what can be judged before anything is
// trained, without writing a byte.
#pragma once

#include <optional>
#include <ostream>

#include "app/run.h"
#include "config/config.h"

namespace recs {

// The checks `run` makes on a loaded config before it reads any data: the
// database path can be one and the import files exist (ConfigError, exit 3).
// `pipeline config` makes them too, so both agree on what is valid.
void check_run_config(const Config& config);

// Checks what `run` (no stage) or `stage` would meet, in the order the run
// meets it, and throws the error the run would: the database path (3), the
// run lock (7), the database opens and its schema can be migrated (5), the
// import files exist (3) and parse (4: every row, as the import reads them).
// Writes nothing: no run row, no lock file, no database. Logs what it found;
// with `json`, one JSON document there too, also when a check fails.
void dry_run(const Config& config, std::optional<Stage> stage, std::ostream* json);

}  // namespace recs
