// `pipeline report`: one self-contained HTML page about the last runs, for
// people: quality (NDCG, recall, coverage against the popularity baseline)
// and stage times per run, the last training's loss per epoch, churn per
// night, the live set's score distribution and the latest run's summary.
// Charts are inline SVG: nothing is loaded from the network and no script
// runs. Reads the database read-only (db::RunHistory); writes only `out`.
#pragma once

#include <filesystem>

#include "config/config.h"

namespace recs {

struct ReportOptions {
  int runs = 30;  // the last runs shown
};

// Writes the page to `out` (replacing it). Throws DatabaseError when the
// database cannot be read, Error(kInternal) when `out` cannot be written.
void write_report(const Config& config, const std::filesystem::path& out,
                  const ReportOptions& options = {});

}  // namespace recs
