// Going back: `pipeline rollback` makes a kept published set live again and
// `pipeline publish --model N` scores and publishes a kept model. Both are
// recorded runs (app/run.h), under the run lock and the readers' guarantee.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "config/config.h"
#include "db/publish.h"

namespace recs {

// `pipeline rollback`: in one atomic step, makes the kept set retired most
// recently live again (so a second rollback undoes the first) or, with
// `published_by`, the newest kept set that run published, and keeps the
// live set in its place. Recorded as run "rollback". Nothing to roll back
// to is a NotFoundError (exit 8) that changes no data.
void run_rollback(const Config& config, std::optional<std::int64_t> published_by);

// `pipeline publish --model N`: scores model `model_id` (empty: the newest)
// exactly as `pipeline score` does and publishes it, keeping the live set
// for rollback. Recorded as run "publish". A model that is not kept is a
// NotFoundError (exit 8).
void run_publish(const Config& config, std::optional<std::int64_t> model_id);

// "the set of run 12 (model 4, 6100 rows, published 2026-11-27T21:02:42Z)".
std::string describe_set(const db::KeptSet& set);

}  // namespace recs
