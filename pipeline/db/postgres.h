// The PostgreSQL serving backend (serve.postgres): the web app's tables in
// a PostgreSQL server, one generation per publication (db/serving.h), read
// through the views of schema `recs` (schema/postgres/). Connections come
// from a libpq connection string; passwords from the libpq environment or
// .pgpass. Failures are DatabaseError naming the server ("PostgreSQL
// host:port/database", never a password) and saying the live set stays.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "db/live_lists.h"
#include "db/publish.h"
#include "db/run_history.h"
#include "db/serving.h"

namespace SQLite {
class Database;
}

namespace recs::db {

struct PostgresOptions {
  std::string conninfo;
  std::string reader_role;  // granted SELECT on schema recs' views; empty: none
  // How long make_live() waits for transactions that were open when the
  // generation's partitions were attached (then it goes ahead).
  double attach_wait_seconds = 30;
  // How long dropping an old generation waits for the transactions that may
  // still see it (a client idle in a transaction) before it is left, with a
  // warning, to the next publish.
  double detach_wait_seconds = 60;
};

// Connects, and creates or migrates the serving schema (and the reader
// role's grants) on first use.
std::unique_ptr<ServingGenerations> postgres_generations(const PostgresOptions& options);

// A Publisher over the generations: creates a generation, stages the
// catalog from `source` (read on a thread and a read-only connection of its
// own, while the lists stream in), the recommendations as one part while
// add() streams them, similar movies and clusters when given, and makes it
// live at commit(). Destroyed without commit(), the generation is left
// staging, invisible to readers, and the next publish drops it. removed()
// is always empty (the dropped generations are logged).
class GenerationPublisher : public Publisher {
 public:
  // The generation this publication stages (live once committed).
  virtual std::int64_t generation() const = 0;
};
std::unique_ptr<GenerationPublisher> postgres_publisher(const PostgresOptions& options,
                                                        SQLite::Database& source,
                                                        std::optional<std::int64_t> model_id);

// The live recommendations as of now, streamed user by user from one
// snapshot (a cursor in a read-only repeatable-read transaction on a
// connection of its own), for the churn of a publication about to replace
// them: make it before the publisher, and destroy it before the publisher's
// commit() (dropping old generations waits for its transaction). Null when
// nothing is live or the serving schema does not exist yet.
std::unique_ptr<LiveLists> postgres_live_lists(const PostgresOptions& options);

// The lists of generation `generation` (a staged one too), streamed in user
// order from one snapshot on a connection of its own; destroy it before the
// generation is made live.
std::unique_ptr<ListStream> postgres_generation_lists(const PostgresOptions& options,
                                                      std::int64_t generation);

// What is live on the server (recs.publication), with the metrics its run
// recorded in the pipeline's SQLite run history (`runs`). Empty answers when
// nothing is published there yet.
std::unique_ptr<PublishedSet> postgres_published(const PostgresOptions& options,
                                                 SQLite::Database& runs);

// Every model a generation still on the server (live, previous or staging)
// was scored with, so that keep.models never prunes a model the server can
// still serve or roll back to. Empty when the serving schema does not exist
// yet. Throws DatabaseError when the server cannot be read.
// The live generation's recommendation scores in `bins` equal-width bins
// (no counts when nothing is published there), as the report shows them.
ScoreHistogram postgres_score_histogram(const PostgresOptions& options, int bins);

std::vector<std::int64_t> postgres_served_models(const PostgresOptions& options);

// The web app's lookup of one user's live list (recs.recommendations), on a
// connection of its own; for benchmarks and checks.
class ListLookup {
 public:
  virtual ~ListLookup() = default;
  // The rows of `user`'s live list.
  virtual int rows_of(std::int64_t user) = 0;
};
std::unique_ptr<ListLookup> postgres_list_lookup(const std::string& conninfo);

}  // namespace recs::db
