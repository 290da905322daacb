-- recs schema, version 1. Applied by the pipeline itself (PRAGMA user_version
-- records the version); never edit a released file, add the next one.

-- The catalog, external MovieLens ids.
CREATE TABLE movies (
  movie_id INTEGER PRIMARY KEY,
  title TEXT NOT NULL,
  genres TEXT NOT NULL
);

-- Raw ratings as imported, external ids. Keyed for "what did this user rate".
CREATE TABLE ratings (
  user_id INTEGER NOT NULL,
  movie_id INTEGER NOT NULL,
  rating REAL NOT NULL,
  rated_at INTEGER NOT NULL,
  PRIMARY KEY (user_id, movie_id)
) WITHOUT ROWID;

-- Popularity per rated movie, rebuilt by every import; serves the fallback
-- query for users without recommendations.
CREATE TABLE movie_stats (
  movie_id INTEGER PRIMARY KEY,
  rating_count INTEGER NOT NULL,
  mean_rating REAL NOT NULL,
  popularity_rank INTEGER NOT NULL
);
CREATE UNIQUE INDEX movie_stats_by_rank ON movie_stats (popularity_rank);

-- The published top-N per user, replaced as a whole in one transaction.
-- The web app reads: SELECT movie_id, score FROM recommendations
--                    WHERE user_id = ? ORDER BY rank
CREATE TABLE recommendations (
  user_id INTEGER NOT NULL,
  rank INTEGER NOT NULL CHECK (rank >= 1),
  movie_id INTEGER NOT NULL,
  score REAL NOT NULL,
  PRIMARY KEY (user_id, rank)
) WITHOUT ROWID;

-- Run history: one row per command that changes the database.
CREATE TABLE runs (
  run_id INTEGER PRIMARY KEY,
  command TEXT NOT NULL,
  started_at TEXT NOT NULL,           -- UTC, ISO 8601
  finished_at TEXT,
  status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'abandoned')),
  message TEXT,                       -- the error line when failed
  config TEXT NOT NULL,               -- effective configuration (YAML)
  model_type TEXT,
  counts TEXT NOT NULL DEFAULT '{}',  -- JSON: rows imported, users scored, rows published...
  timings TEXT NOT NULL DEFAULT '{}', -- JSON: seconds per stage
  metrics TEXT NOT NULL DEFAULT '{}'  -- JSON: losses, validation error...
);

-- Trained models: id mappings and vectors, so score and predict run without
-- retraining. score(u, m) = dot(user vector u, movie vector m).
CREATE TABLE models (
  model_id INTEGER PRIMARY KEY,
  run_id INTEGER REFERENCES runs (run_id),
  created_at TEXT NOT NULL,
  type TEXT NOT NULL,
  dims INTEGER NOT NULL,              -- vector length (factors plus folded biases)
  user_count INTEGER NOT NULL,
  movie_count INTEGER NOT NULL,
  user_ids BLOB NOT NULL,             -- int64 little-endian, ascending
  movie_ids BLOB NOT NULL,            -- int64 little-endian, ascending
  user_vectors BLOB NOT NULL,         -- float32 little-endian, row-major users x dims
  movie_vectors BLOB NOT NULL,        -- float32 little-endian, row-major movies x dims
  metrics TEXT NOT NULL DEFAULT '{}'
);

-- Which run's recommendations are live; written in the publishing transaction.
CREATE TABLE publication (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  run_id INTEGER REFERENCES runs (run_id),
  model_id INTEGER REFERENCES models (model_id),
  published_at TEXT NOT NULL,
  user_count INTEGER NOT NULL,
  row_count INTEGER NOT NULL,
  top_n INTEGER NOT NULL
);
